//! The projection engine and the read models it builds.
//!
//! A projection turns the event stream into plain tables (`rm_*`) that the
//! query API reads. The engine reads events with the gap-free catch-up query
//! (see `zekka_event_store::event_log`), applies a batch and advances the
//! projection's checkpoint in one transaction, wakes on `NOTIFY`, and polls as
//! a fallback. A crash at any point loses and repeats nothing: the batch's
//! writes and its checkpoint commit or roll back together.
//!
//! # Layout
//! - [`projection`]: the trait each read model implements.
//! - [`engine`]: [`Projector`], which drives one projection batch by batch.
//! - [`projections`]: the read models, one module each.
//! - [`rebuild`]: rebuilding a projection into a shadow schema and swapping it in.
//! - [`service`]: running every projection until shutdown.
#![forbid(unsafe_code)]

pub mod engine;
pub mod projection;
pub mod projections;
pub mod rebuild;
pub mod service;

pub use engine::{Outcome, Projector};
pub use projection::{Projection, ProjectionError};
