//! What verification reports when something does not match: the kind of
//! damage and where, shared by the store's check, the export's check and
//! the check of recorded rewrites.

use serde::Serialize;

use super::{Checkpoint, HashedEvent};

/// What kind of damage verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// An event's content no longer matches its hash (changed, or moved to
    /// another place in its stream).
    Altered,
    /// An event is missing before this one in its stream.
    Missing,
    /// The running hash or count up to a checkpoint differs: events before
    /// it were removed, added, reordered or rewritten with new hashes.
    CheckpointMismatch,
    /// A checkpoint's signature does not verify.
    BadSignature,
    /// An exported event stands out of commit order (lines moved).
    OutOfOrder,
    /// A line of an export does not read.
    Unreadable,
    /// A recorded rewrite of history lists other events or checkpoints
    /// than its signed document states.
    RewriteMismatch,
}

/// The first thing that did not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What was found.
    pub kind: FailureKind,
    /// The event's (or checkpoint's) global position.
    pub global_position: Option<i64>,
    /// The event's stream type, when an event is named.
    pub aggregate_type: Option<String>,
    /// The event's stream id.
    pub aggregate_id: Option<String>,
    /// The event's sequence.
    pub sequence: Option<i64>,
    /// In words.
    pub detail: String,
}

impl Failure {
    pub(crate) fn at_event(kind: FailureKind, event: &HashedEvent, detail: String) -> Self {
        Self {
            kind,
            global_position: Some(event.position.global_position),
            aggregate_type: Some(event.aggregate_type.clone()),
            aggregate_id: Some(event.aggregate_id.clone()),
            sequence: Some(event.sequence),
            detail,
        }
    }

    /// A failure about a checkpoint (or a line), not an event.
    pub fn at_checkpoint(kind: FailureKind, global_position: Option<i64>, detail: String) -> Self {
        Self {
            kind,
            global_position,
            aggregate_type: None,
            aggregate_id: None,
            sequence: None,
            detail,
        }
    }
}

/// The failure, if the state after `count` events differs from `checkpoint`.
pub(crate) fn compare(checkpoint: &Checkpoint, count: i64, running: &[u8; 32]) -> Option<Failure> {
    if checkpoint.event_count == count && checkpoint.running_hash == hex::encode(running) {
        return None;
    }
    Some(Failure::at_checkpoint(
        FailureKind::CheckpointMismatch,
        Some(checkpoint.global_position),
        format!(
            "the signed checkpoint at position {} covers {} events, but {count} events now stand up to it with \
             another running hash: events up to it were removed, added, reordered or rewritten",
            checkpoint.global_position, checkpoint.event_count
        ),
    ))
}
