//! Verifying the whole store: every event against its hash, every stream
//! for gaps, the running hash against every signed checkpoint.

use std::collections::VecDeque;

use serde::Serialize;
use tokio_postgres::GenericClient;

use super::{Checkpoint, DocumentVerifier, HashedEvent, IntegrityError, event_hash, fold, read_hashed};
use crate::event_log::Position;

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
    fn at_event(kind: FailureKind, event: &HashedEvent, detail: String) -> Self {
        Self {
            kind,
            global_position: Some(event.position.global_position),
            aggregate_type: Some(event.aggregate_type.clone()),
            aggregate_id: Some(event.aggregate_id.clone()),
            sequence: Some(event.sequence),
            detail,
        }
    }

    fn at_checkpoint(kind: FailureKind, global_position: Option<i64>, detail: String) -> Self {
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

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Nothing failed.
    pub intact: bool,
    /// Events recomputed.
    pub events_checked: i64,
    /// Signed checkpoints compared.
    pub checkpoints_checked: i64,
    /// The global position of the last event read.
    pub last_position: Option<i64>,
    /// The first failure, in commit order.
    pub first_failure: Option<Failure>,
}

/// Recomputes every event's hash from its stored content, checks each
/// stream has no gaps, and compares the running hash with every signed
/// checkpoint: the stored ones and `kept` (documents an auditor kept
/// outside the system). Stops at the first failure.
///
/// # Errors
/// When the database fails (a mismatch is a finding, not an error).
pub async fn verify(
    client: &impl GenericClient,
    verifier: &impl DocumentVerifier,
    kept: &[String],
) -> Result<Verification, IntegrityError> {
    let mut report = Verification {
        intact: true,
        events_checked: 0,
        checkpoints_checked: 0,
        last_position: None,
        first_failure: None,
    };
    let mut checkpoints = Vec::new();
    let stored = client
        .query(
            "SELECT document, global_position, event_count, running_hash FROM audit_checkpoints",
            &[],
        )
        .await?;
    for row in &stored {
        let document: String = row.try_get(0)?;
        let global_position: i64 = row.try_get(1)?;
        match Checkpoint::from_document(&document, verifier) {
            Ok(checkpoint) => checkpoints.push(checkpoint),
            Err(detail) => {
                return Ok(report.failed(Failure::at_checkpoint(
                    FailureKind::BadSignature,
                    Some(global_position),
                    detail,
                )));
            }
        }
    }
    for document in kept.iter().filter(|d| !d.trim().is_empty()) {
        match Checkpoint::from_document(document, verifier) {
            Ok(checkpoint) => checkpoints.push(checkpoint),
            Err(detail) => {
                return Ok(report.failed(Failure::at_checkpoint(FailureKind::BadSignature, None, detail)));
            }
        }
    }
    checkpoints.sort_by_key(|c| c.position);
    let mut pending: VecDeque<Checkpoint> = checkpoints.into();

    let mut running = [0_u8; 32];
    let mut position = Position::START;
    loop {
        let batch = read_hashed(client, position, false).await?;
        let Some(last) = batch.last() else { break };
        let next = last.position;
        for event in &batch {
            while let Some(checkpoint) = pending.front()
                && checkpoint.position < event.position
            {
                if let Some(failure) = compare(checkpoint, report.events_checked, &running) {
                    return Ok(report.failed(failure));
                }
                report.checkpoints_checked += 1;
                pending.pop_front();
            }
            if event.sequence > 1 && event.previous_hash.is_none() {
                let detail = format!(
                    "event {} of {}/{} is missing: this event follows a gap in its stream",
                    event.sequence - 1,
                    event.aggregate_type,
                    event.aggregate_id
                );
                return Ok(report.failed(Failure::at_event(FailureKind::Missing, event, detail)));
            }
            let hash = event_hash(event.previous_hash.as_deref(), event);
            if hash.as_slice() != event.stored_hash.as_slice() {
                let detail = format!(
                    "event {} of {}/{} does not match its hash: its content, place or predecessor changed",
                    event.sequence, event.aggregate_type, event.aggregate_id
                );
                return Ok(report.failed(Failure::at_event(FailureKind::Altered, event, detail)));
            }
            running = fold(&running, &hash, event.position.global_position);
            report.events_checked += 1;
            report.last_position = Some(event.position.global_position);
        }
        position = next;
    }
    while let Some(checkpoint) = pending.pop_front() {
        if let Some(failure) = compare(&checkpoint, report.events_checked, &running) {
            return Ok(report.failed(failure));
        }
        report.checkpoints_checked += 1;
    }
    Ok(report)
}

/// The failure, if the state after `count` events differs from `checkpoint`.
fn compare(checkpoint: &Checkpoint, count: i64, running: &[u8; 32]) -> Option<Failure> {
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

impl Verification {
    fn failed(mut self, failure: Failure) -> Self {
        self.intact = false;
        self.first_failure = Some(failure);
        self
    }
}
