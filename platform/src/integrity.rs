//! Tamper evidence for the event store: per-stream hash chains (computed by
//! the database on insert, `migrations/0011_tamper_evidence.sql`) and signed
//! checkpoints of a running hash over the global commit order.
//!
//! Verification recomputes everything here, in Rust, from the stored
//! content, trusting neither the stored hashes nor the SQL functions that
//! made them: the server's signature on the checkpoints is the root of
//! trust, and an auditor may hold copies of those checkpoints outside the
//! system.

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio_postgres::{GenericClient, Row};

use crate::event_log::{Position, Xid8};
use crate::tokens::{TokenSigner, TokenVerifier};

/// The implicit assertion of checkpoint documents: nothing else signed with
/// the same key verifies as a checkpoint.
pub const CHECKPOINT_PURPOSE: &str = "zekka:audit-checkpoint:v1";

/// Events read per round trip while checkpointing or verifying.
const BATCH: i64 = 2_000;

/// Serialises checkpointers across processes (`pg_try_advisory_xact_lock`).
const CHECKPOINT_LOCK: i64 = 0x7a65_6b6b_6163_6b70; // "zekkackp"

/// What can stop a checkpoint or a verification (a failed check is not an
/// error: it is the verification's finding).
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// The database failed.
    #[error("the event store could not be read")]
    Database(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool.
    #[error("no database connection: {0}")]
    Pool(String),
    /// The checkpoint could not be signed.
    #[error("the checkpoint could not be signed: {0}")]
    Signing(String),
    /// The stored content no longer matches its hash: nothing is signed
    /// over it (verification will name the event).
    #[error("event at position {0} does not match its hash; not signing a checkpoint over it")]
    Tampered(i64),
}

/// An event's hashed content, exactly as [`event_hash`] reads it.
#[derive(Debug, Clone)]
pub struct HashedEvent {
    /// Where it stands in the commit order.
    pub position: Position,
    /// Its stream's type.
    pub aggregate_type: String,
    /// Its stream's id.
    pub aggregate_id: String,
    /// Its place in the stream, from 1.
    pub sequence: i64,
    /// The event's name.
    pub event_type: String,
    /// The schema version.
    pub event_version: String,
    /// The payload as PostgreSQL prints `jsonb` (canonical: sorted keys).
    pub payload: String,
    /// The metadata, likewise.
    pub metadata: String,
    /// `recorded_at` in microseconds since the Unix epoch.
    pub recorded_at_micros: i64,
    /// The hash stored with the event.
    pub stored_hash: Vec<u8>,
    /// The hash stored with its predecessor in the stream, if that exists.
    pub previous_hash: Option<Vec<u8>>,
}

/// SHA-256 over the event's fields, each prefixed with its length in bytes,
/// after the predecessor's hash (hex; empty for a stream's first event).
/// The same function as `event_hash` in SQL.
pub fn event_hash(previous: Option<&[u8]>, event: &HashedEvent) -> [u8; 32] {
    let previous = previous.map(hex::encode).unwrap_or_default();
    let sequence = event.sequence.to_string();
    let recorded_at = event.recorded_at_micros.to_string();
    let fields: [&str; 9] = [
        &previous,
        &event.aggregate_type,
        &event.aggregate_id,
        &sequence,
        &event.event_type,
        &event.event_version,
        &event.payload,
        &event.metadata,
        &recorded_at,
    ];
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update(field.len().to_string().as_bytes());
        hasher.update(b":");
        hasher.update(field.as_bytes());
    }
    hasher.finalize().into()
}

/// One step of the running hash over the commit order.
pub fn fold(running: &[u8; 32], event_hash: &[u8; 32], global_position: i64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(running);
    hasher.update(event_hash);
    hasher.update(global_position.to_be_bytes());
    hasher.finalize().into()
}

/// A signed statement: the running hash over every event up to `position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// The last event covered.
    #[serde(skip)]
    pub position: Position,
    /// Its global position.
    pub global_position: i64,
    /// How many events it covers.
    pub event_count: i64,
    /// The running hash, hex.
    pub running_hash: String,
    /// The signed PASETO document stating the above.
    pub document: String,
}

impl Checkpoint {
    fn claims(position: Position, event_count: i64, running: &[u8; 32]) -> Map<String, Value> {
        let claims = json!({
            "transaction_id": position.transaction_id.0.to_string(),
            "global_position": position.global_position,
            "event_count": event_count,
            "running_hash": hex::encode(running),
        });
        claims.as_object().cloned().unwrap_or_default()
    }

    /// Reads a checkpoint document, checking its signature.
    ///
    /// # Errors
    /// A description of what is wrong with it.
    pub fn from_document(document: &str, verifier: &TokenVerifier) -> Result<Self, String> {
        let (claims, _) = verifier
            .verify_document(document.trim(), CHECKPOINT_PURPOSE)
            .map_err(|e| format!("the checkpoint's signature does not verify: {e}"))?;
        let transaction_id = claims["transaction_id"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .ok_or("the checkpoint names no transaction")?;
        let global_position = claims["global_position"]
            .as_i64()
            .ok_or("the checkpoint names no position")?;
        Ok(Self {
            position: Position {
                transaction_id: Xid8(transaction_id),
                global_position,
            },
            global_position,
            event_count: claims["event_count"]
                .as_i64()
                .ok_or("the checkpoint has no count")?,
            running_hash: claims["running_hash"]
                .as_str()
                .ok_or("the checkpoint has no hash")?
                .to_owned(),
            document: document.trim().to_owned(),
        })
    }
}

const HASHED_COLUMNS: &str =
    "e.transaction_id, e.global_position, e.aggregate_type, e.aggregate_id, e.sequence,
        e.event_type, e.event_version, e.payload::text, e.metadata::text,
        (extract(epoch FROM e.recorded_at) * 1000000)::bigint, e.hash, p.hash
   FROM events e
   LEFT JOIN events p ON p.aggregate_type = e.aggregate_type AND p.aggregate_id = e.aggregate_id
                     AND p.sequence = e.sequence - 1";

fn hashed(row: &Row) -> Result<HashedEvent, tokio_postgres::Error> {
    Ok(HashedEvent {
        position: Position {
            transaction_id: row.try_get(0)?,
            global_position: row.try_get(1)?,
        },
        aggregate_type: row.try_get(2)?,
        aggregate_id: row.try_get(3)?,
        sequence: row.try_get(4)?,
        event_type: row.try_get(5)?,
        event_version: row.try_get(6)?,
        payload: row.try_get(7)?,
        metadata: row.try_get(8)?,
        recorded_at_micros: row.try_get(9)?,
        stored_hash: row.try_get(10)?,
        previous_hash: row.try_get(11)?,
    })
}

/// Up to [`BATCH`] events after `after` in commit order; with `stable`,
/// only from transactions that can no longer be running (what a checkpoint
/// may cover).
async fn read_hashed(
    client: &impl GenericClient,
    after: Position,
    stable: bool,
) -> Result<Vec<HashedEvent>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT {HASHED_COLUMNS}
                  WHERE (e.transaction_id, e.global_position) > ($1, $2)
                    AND (NOT $3 OR e.transaction_id < pg_snapshot_xmin(pg_current_snapshot()))
                  ORDER BY e.transaction_id, e.global_position
                  LIMIT $4"
            ),
            &[&after.transaction_id, &after.global_position, &stable, &BATCH],
        )
        .await?;
    rows.iter().map(hashed).collect()
}

/// Signs a checkpoint over every event committed since the last one, if
/// there are any and no other process is checkpointing right now. Each
/// event is checked against its hash first: nothing tampered is signed.
///
/// # Errors
/// When the database fails, signing fails, or an event does not match its hash.
pub async fn checkpoint(
    client: &mut deadpool_postgres::Object,
    signer: &TokenSigner,
) -> Result<Option<Checkpoint>, IntegrityError> {
    let tx = client.transaction().await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&CHECKPOINT_LOCK])
        .await?
        .try_get(0)?;
    if !locked {
        return Ok(None);
    }
    let last = tx
        .query_opt(
            "SELECT transaction_id, global_position, event_count, running_hash FROM audit_checkpoints
              ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
            &[],
        )
        .await?;
    let (mut position, mut count, mut running) = match last {
        Some(row) => {
            let hash: Vec<u8> = row.try_get(3)?;
            (
                Position {
                    transaction_id: row.try_get(0)?,
                    global_position: row.try_get(1)?,
                },
                row.try_get::<_, i64>(2)?,
                <[u8; 32]>::try_from(hash.as_slice()).unwrap_or([0; 32]),
            )
        }
        None => (Position::START, 0, [0; 32]),
    };
    let start = position;
    loop {
        let batch = read_hashed(&*tx, position, true).await?;
        let Some(last) = batch.last() else { break };
        let next = last.position;
        for event in &batch {
            let hash = event_hash(event.previous_hash.as_deref(), event);
            if hash.as_slice() != event.stored_hash.as_slice() {
                return Err(IntegrityError::Tampered(event.position.global_position));
            }
            running = fold(&running, &hash, event.position.global_position);
            count += 1;
        }
        position = next;
    }
    if position == start {
        return Ok(None);
    }
    let signed = signer
        .sign_document(CHECKPOINT_PURPOSE, &Checkpoint::claims(position, count, &running))
        .map_err(|e| IntegrityError::Signing(e.to_string()))?;
    let document = signed.text;
    tx.execute(
        "INSERT INTO audit_checkpoints (transaction_id, global_position, event_count, running_hash, document, key_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &position.transaction_id,
            &position.global_position,
            &count,
            &running.as_slice(),
            &document,
            &signed.key_id,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Checkpoint {
        position,
        global_position: position.global_position,
        event_count: count,
        running_hash: hex::encode(running),
        document,
    }))
}

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
    verifier: &TokenVerifier,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> HashedEvent {
        HashedEvent {
            position: Position::START,
            aggregate_type: "T".into(),
            aggregate_id: "a".into(),
            sequence: 1,
            event_type: "E".into(),
            event_version: "1.0".into(),
            payload: r#"{"a": "é", "b": 1}"#.into(),
            metadata: "{}".into(),
            recorded_at_micros: 1_796_113_817_391_511,
            stored_hash: Vec::new(),
            previous_hash: None,
        }
    }

    #[test]
    fn the_hash_is_the_one_the_database_computes() {
        // Computed by `event_hash` in migrations/0011 for the same fields.
        assert_eq!(
            hex::encode(event_hash(None, &event())),
            "ec949d2e573610d023439d248046207f103a19dfe27b07600ab2f07b0e51a796"
        );
    }

    #[test]
    fn every_field_and_the_predecessor_change_the_hash() {
        let base = event_hash(None, &event());
        let mut moved = event();
        moved.sequence = 2;
        let mut edited = event();
        edited.payload = r#"{"a": "e", "b": 1}"#.into();
        let mut shifted = event();
        shifted.aggregate_type = "Ta".into();
        shifted.aggregate_id = String::new();
        for other in [
            event_hash(None, &moved),
            event_hash(None, &edited),
            event_hash(None, &shifted),
            event_hash(Some(&[0]), &event()),
        ] {
            assert_ne!(other, base);
        }
    }

    #[test]
    fn the_running_hash_depends_on_order() {
        let (a, b) = ([1_u8; 32], [2_u8; 32]);
        let start = [0_u8; 32];
        assert_ne!(
            fold(&fold(&start, &a, 1), &b, 2),
            fold(&fold(&start, &b, 2), &a, 1)
        );
    }
}
