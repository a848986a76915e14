//! Zekka's domain: aggregates, their commands, events and rules.
//!
//! Pure: no I/O, no HTTP, no SQL, no clock. Every decision is a synchronous
//! function of the aggregate's state and a command; `cqrs-es` persists the
//! events those decisions return.
//!
//! # Layout
//! - [`agent`]: the Agent aggregate (status, tasks).
//! - [`conflict`]: the Conflict aggregate (reported, resolved, escalated).
//! - [`conversation`]: the Conversation aggregate (messages).
//! - [`execution`]: the Execution aggregate (a run of a project through its stages).
//! - [`preferences`]: the Preferences aggregate (a user's settings).
//! - [`pricing`]: the ModelPrice aggregate (price history per model, exact costs).
//! - [`project`]: the Project aggregate (workflow stages, members, budget).
//! - [`projection`]: the Projection aggregate (operators' decisions about a read model: skipped events).
//! - [`user`]: the User aggregate (registration, sign-in failures, password and email).
//! - [`session`]: the Session aggregate (a family of rotating refresh tokens).
//! - [`source`]: the Source and SourceFolder aggregates (a project's files, in folders).
//! - [`task`]: the Task aggregate (one agent's work in one stage of a run, under a lease).
//! - [`replay`]: an aggregate's state rebuilt from stored payloads (audit).
//! - [`upcasting`]: old event versions read in the current shape.
//! - [`error`]: the error kinds every aggregate's errors map onto.
//! - [`named`]: closed sets of values with one wire name each.
//! - [`shapes`]: value shapes as JSON Schema states them (for the API document).
//! - [`sink`]: how decisions reach the `cqrs-es` event sink.
//! - [`shared`]: what every aggregate shares: project access and its writer rule, the text rule.
#![forbid(unsafe_code)]

pub mod agent;
pub mod conflict;
pub mod conversation;
pub mod error;
pub mod execution;
pub mod named;
pub mod preferences;
pub mod pricing;
pub mod project;
pub mod projection;
pub mod replay;
pub mod session;
pub mod shapes;
pub mod shared;
pub mod sink;
pub mod source;
pub mod task;
pub mod upcasting;
pub mod user;

pub use error::{ErrorKind, FieldError, Refusal};
pub use named::Named;
pub use sink::Decide;
