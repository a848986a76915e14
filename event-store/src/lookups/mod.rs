//! Typed facts read from the streams, for commands and reads that need
//! one fact rather than a whole aggregate: who owns a stream, the highest
//! fencing token of a file, who wrote a message, the current prices, the
//! revocations to restore. Each answers in domain types, read from payloads
//! upcast to the current schema; a payload that does not read is an error
//! ([`StoreError::Corrupt`]), never a silent default.
//!
//! # Layout
//! - [`positions`]: the store's head, a stream's last position, the event at a position, stream existence.
//! - [`owners`]: the project a stream belongs to, the agent a task was assigned to.
//! - [`conversations`]: facts about one message.
//! - [`locks`]: the fencing floor of a file, the first agent that locked it.
//! - [`users`]: a user by the blind index of their email.
//! - [`streams`]: every event of a stream without personal data, typed (conflicts, prices, skips).
//! - [`revocations`]: the recent revocations of sessions and tokens.
//! - [`activity`]: one stream's events, newest first, for activity feeds.

pub mod activity;
pub mod conversations;
pub mod locks;
pub mod owners;
pub mod positions;
pub mod revocations;
pub mod streams;
pub mod users;

use serde::de::DeserializeOwned;
use serde_json::Value;
use zekka_domain::upcasting;

use crate::error::StoreError;
use crate::personal_data;

/// A stored event of `aggregate_type` read as `T` (its domain event type),
/// after upcasting.
///
/// # Errors
/// [`StoreError::Corrupt`] when it does not read as `T`, or when it holds
/// personal data (those are read through the store, which opens them).
pub(crate) fn decode<T: DeserializeOwned>(
    aggregate_type: &str,
    event_type: &str,
    event_version: &str,
    payload: Value,
) -> Result<T, StoreError> {
    if personal_data::has_sealed_fields(aggregate_type, event_type) {
        return Err(StoreError::Corrupt(format!(
            "{aggregate_type}/{event_type} holds personal data: read it through the store"
        )));
    }
    let (_, payload) = upcasting::upcast(event_type, event_version, payload);
    serde_json::from_value(payload)
        .map_err(|error| StoreError::Corrupt(format!("{aggregate_type}/{event_type}: {error}")))
}

/// The fields `T` names of a stored event's body (`{"Event": {…}}`), after
/// upcasting: for facts that are never personal data (ids, numbers) out of
/// events that may also hold some.
///
/// # Errors
/// [`StoreError::Corrupt`] when the body does not have them.
pub(crate) fn fields_of<T: DeserializeOwned>(
    event_type: &str,
    event_version: &str,
    payload: Value,
) -> Result<T, StoreError> {
    let (_, payload) = upcasting::upcast(event_type, event_version, payload);
    let body = payload
        .as_object()
        .and_then(|tagged| tagged.get(event_type))
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("{event_type} has no body")))?;
    serde_json::from_value(body).map_err(|error| StoreError::Corrupt(format!("{event_type}: {error}")))
}
