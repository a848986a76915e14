//! Zekka's event store: the one crate that speaks SQL to `events`.
//!
//! Every stored event that leaves this crate has had its personal data
//! opened (or read as erased) and has been upcast to the current schema.
//! Nothing outside it writes `FROM events` or reads a payload by JSON path
//! (`.ci/run` checks this): routes ask [`lookups`] for typed facts instead.
//!
//! # Layout
//! - [`database`]: creating the database, pools of both drivers, the migrations (`migrations/`).
//! - [`store`]: append (one statement, group commit), load (snapshot + state in memory) per aggregate type.
//! - [`event_log`]: positions, stored events, the gap-free catch-up read.
//! - [`wakeup`]: LISTEN/NOTIFY: waking readers when events commit, announcing appends.
//! - [`consistency`]: consistency tokens and the read-your-writes wait.
//! - [`integrity`]: hash chains, signed checkpoints, verification.
//! - [`personal_data`]: crypto-shredding of personal fields (per-person keys, blind email index).
//! - [`audit`]: the log as a principal may see it (whole, by stream, up to a moment; a person's own events).
//! - [`lookups`]: typed facts read from the stream (owners, lock floors, prices, …).
//! - [`metrics`]: the store's Prometheus metrics.
//! - [`error`]: the one error of reads and look-ups.
#![forbid(unsafe_code)]

pub mod audit;
pub mod consistency;
pub mod database;
pub mod error;
pub mod event_log;
pub mod integrity;
pub mod lookups;
pub mod metrics;
pub mod personal_data;
pub mod store;
pub mod wakeup;

pub use error::StoreError;
pub use event_log::{Position, StoredEvent, Xid8};
