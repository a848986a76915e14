//! Tamper evidence for the event store: per-stream hash chains (defined in
//! `migrations/0011_tamper_evidence.sql`, computed by the writer since
//! `0035`) and signed checkpoints of a running hash over the global commit
//! order.
//!
//! Verification recomputes everything here, in Rust, from the stored
//! content, trusting neither the stored hashes nor the SQL functions that
//! made them: the server's signature on the checkpoints is the root of
//! trust, and an auditor may hold copies of those checkpoints outside the
//! system.

mod checkpoint;
mod export;
mod failure;
mod jsonb_text;
mod reseal;
mod rewrites;
mod verify;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio_postgres::{GenericClient, Row};

use crate::event_log::{Position, Xid8};

pub use checkpoint::checkpoint;
pub use export::{ExportLine, ExportRange, FORMAT, NDJSON, export, verify_export};
pub use failure::{Failure, FailureKind};
pub use jsonb_text::jsonb_text;
pub use reseal::{REWRITE_PURPOSE, ResealReport, reseal_metadata};
pub use rewrites::RewriteSummary;
pub use verify::{Chain, ChainStart, Verification, verify, verify_with_progress};

/// Signs checkpoint documents: the process's token key (held by the
/// identity part of the platform, which implements this).
pub trait DocumentSigner {
    /// `claims` signed for `purpose`: the document's text and the id of
    /// the key that signed it.
    ///
    /// # Errors
    /// In words, when the key cannot sign.
    fn sign(&self, purpose: &str, claims: &Map<String, Value>) -> Result<(String, String), String>;
}

/// Checks the signature of checkpoint documents.
pub trait DocumentVerifier {
    /// The claims of `document`, when it was signed for `purpose` by a key
    /// this process trusts.
    ///
    /// # Errors
    /// In words, when it was not.
    fn verify(&self, document: &str, purpose: &str) -> Result<Map<String, Value>, String>;
}
/// The implicit assertion of checkpoint documents: nothing else signed with
/// the same key verifies as a checkpoint.
pub const CHECKPOINT_PURPOSE: &str = "zekka:audit-checkpoint:v1";

/// Events read per round trip while checkpointing or verifying.
const BATCH: i64 = 2_000;

/// Serialises checkpointers across processes (`pg_try_advisory_xact_lock`).
pub(crate) const CHECKPOINT_LOCK: i64 = 0x7a65_6b6b_6163_6b70; // "zekkackp"

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
    /// The key store failed (re-sealing personal data).
    #[error("the key store failed: {0}")]
    Keys(#[from] crate::personal_data::PersonalDataError),
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
    hash_of(
        previous,
        &HashInput {
            aggregate_type: &event.aggregate_type,
            aggregate_id: &event.aggregate_id,
            sequence: event.sequence,
            event_type: &event.event_type,
            event_version: &event.event_version,
            payload: &event.payload,
            metadata: &event.metadata,
            recorded_at_micros: event.recorded_at_micros,
        },
    )
}

/// What an event's hash covers, borrowed: from a stored event when
/// verifying, from the event about to be appended when writing.
#[derive(Debug, Clone, Copy)]
pub struct HashInput<'a> {
    /// Its stream's type.
    pub aggregate_type: &'a str,
    /// Its stream's id.
    pub aggregate_id: &'a str,
    /// Its place in the stream, from 1.
    pub sequence: i64,
    /// The event's name.
    pub event_type: &'a str,
    /// The schema version.
    pub event_version: &'a str,
    /// The payload as PostgreSQL prints `jsonb` ([`jsonb_text`]).
    pub payload: &'a str,
    /// The metadata, likewise.
    pub metadata: &'a str,
    /// `recorded_at` in microseconds since the Unix epoch.
    pub recorded_at_micros: i64,
}

/// [`event_hash`] over borrowed fields.
pub fn hash_of(previous: Option<&[u8]>, event: &HashInput<'_>) -> [u8; 32] {
    let previous = previous.map(hex::encode).unwrap_or_default();
    let sequence = event.sequence.to_string();
    let recorded_at = event.recorded_at_micros.to_string();
    let fields: [&str; 9] = [
        &previous,
        event.aggregate_type,
        event.aggregate_id,
        &sequence,
        event.event_type,
        event.event_version,
        event.payload,
        event.metadata,
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
    pub(crate) fn claims(position: Position, event_count: i64, running: &[u8; 32]) -> Map<String, Value> {
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
    pub fn from_document(document: &str, verifier: &impl DocumentVerifier) -> Result<Self, String> {
        let claims = verifier
            .verify(document.trim(), CHECKPOINT_PURPOSE)
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
pub(crate) async fn read_hashed(
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
