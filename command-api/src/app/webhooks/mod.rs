//! Webhooks (issue 22): the WebSocket's messages delivered to HTTP
//! endpoints, signed, at least once and in order per webhook, through an
//! outbox. `docs/orchestration.md` ("Webhooks") has the guarantees.
//!
//! # Layout
//! - [`registry`]: adding, listing and removing a project's webhooks (and
//!   which targets are allowed).
//! - [`outbox`]: the follower of the event stream that enqueues deliveries.
//! - [`delivery`]: the deliverer: signs, sends, retries with back-off.

pub mod delivery;
pub mod outbox;
pub mod registry;
