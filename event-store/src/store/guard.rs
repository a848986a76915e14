//! Facts a command was decided on that live in another stream (the
//! project that says who may write to a conversation, the price list a
//! usage is charged at), taken from the state in memory without a read and
//! checked by the append instead: the insert fails when that stream moved
//! past the state read, and the command is built again on fresh facts.
//! One index probe inside the append replaces a statement per command.

use cqrs_es::AggregateError;

/// "Stream `aggregate_type`/`aggregate_id` has no event (of
/// `event_types`; of any type when empty) after `sequence`": the condition
/// under which facts read from it at `sequence` still hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The stream's type.
    pub aggregate_type: &'static str,
    /// The stream's id.
    pub aggregate_id: String,
    /// The sequence the facts were read at.
    pub sequence: i64,
    /// The events that would change the facts (empty: any event).
    pub event_types: &'static [&'static str],
}

impl Guard {
    /// The event types, as the append statement takes them (comma-joined;
    /// empty for any).
    pub(crate) fn event_types_text(&self) -> String {
        self.event_types.join(",")
    }
}

/// The append was refused: a guarded stream moved after its facts were
/// read (another process changed the project, or the price). Nothing was
/// stored; build the command again on fresh facts.
#[derive(Debug, thiserror::Error)]
#[error("the facts the command was decided on changed meanwhile")]
pub struct FactsMoved;

/// Whether `error` is [`FactsMoved`].
pub fn facts_moved<E: std::error::Error>(error: &AggregateError<E>) -> bool {
    matches!(error, AggregateError::UnexpectedError(inner) if inner.is::<FactsMoved>())
}

/// The SQLSTATE `events_guard_moved` raises (migration 0036).
pub(crate) const GUARD_MOVED_SQLSTATE: &str = "ZK001";
