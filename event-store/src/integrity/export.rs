//! The audit trail as a file (`application/x-ndjson`) that an auditor
//! verifies offline, without the database: a `start` line (the running hash
//! and count of every event before the range), the signed checkpoints
//! ending inside the range, then one line per event with the exact text
//! its hash covers and the hash itself.
//!
//! Offline, [`verify_export`] recomputes every event's hash, checks commit
//! order and each stream's succession inside the file, and folds the
//! running hash from the start line; each signed checkpoint inside the
//! range then proves everything between the start and it (a forged start
//! line cannot make a later signed running hash match). Events after the
//! last checkpoint of the file are checked against their hashes and
//! streams only.

use futures_util::Stream;
use serde::{Deserialize, Serialize};

use super::failure::{Failure, FailureKind};
use super::verify::{Chain, ChainStart, Verification};
use super::{BATCH, Checkpoint, DocumentVerifier, HashedEvent, IntegrityError, read_hashed};
use crate::event_log::{Position, Xid8};

/// The media type of an export.
pub const NDJSON: &str = "application/x-ndjson";

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportLine {
    /// The first line: where the range starts in the commit order.
    Start {
        /// `zekka.audit-export/1`.
        format: String,
        /// The last event before the range (`0`/`0` for the start of the store).
        transaction_id: String,
        /// Its global position.
        global_position: i64,
        /// Events before the range.
        event_count: i64,
        /// Their running hash, hex.
        running_hash: String,
    },
    /// A signed checkpoint that ends inside the range.
    Checkpoint {
        /// The PASETO document `GET /audit/checkpoints` shows.
        document: String,
    },
    /// One event, exactly as hashed.
    Event {
        /// Its writing transaction.
        transaction_id: String,
        /// Its global position.
        global_position: i64,
        /// Its stream's type.
        aggregate_type: String,
        /// Its stream's id.
        aggregate_id: String,
        /// Its place in the stream.
        sequence: i64,
        /// Its name.
        event_type: String,
        /// Its schema version.
        event_version: String,
        /// The payload text the hash covers (PostgreSQL's `jsonb` text).
        payload: String,
        /// The metadata text the hash covers.
        metadata: String,
        /// `recorded_at` in microseconds since the Unix epoch.
        recorded_at_micros: i64,
        /// Its stored hash, hex.
        hash: String,
        /// Its predecessor's hash, hex (`null` for a stream's first event).
        previous_hash: Option<String>,
    },
}

/// The format named in the start line.
pub const FORMAT: &str = "zekka.audit-export/1";

impl ExportLine {
    fn of_event(event: &HashedEvent) -> Self {
        ExportLine::Event {
            transaction_id: event.position.transaction_id.0.to_string(),
            global_position: event.position.global_position,
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            payload: event.payload.clone(),
            metadata: event.metadata.clone(),
            recorded_at_micros: event.recorded_at_micros,
            hash: hex::encode(&event.stored_hash),
            previous_hash: event.previous_hash.as_ref().map(hex::encode),
        }
    }

    fn text(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// Where an export runs in the commit order: after `from` (exclusive) up
/// to `to` (inclusive; the newest event when `None`).
#[derive(Debug, Clone, Copy)]
pub struct ExportRange {
    /// The last event before the range.
    pub from: Position,
    /// The last event of the range.
    pub to: Option<Position>,
}

/// What an export streams after its first lines.
struct Cursor {
    client: deadpool_postgres::Object,
    after: Position,
    to: Option<Position>,
    done: bool,
}

/// The export of `range` as text chunks: the start line and checkpoints at
/// once (after folding every event before the range), then the events a
/// batch at a time.
///
/// # Errors
/// When the database fails before the first chunk; later failures end the
/// stream with an error.
pub async fn export(
    client: deadpool_postgres::Object,
    range: ExportRange,
) -> Result<impl Stream<Item = Result<String, IntegrityError>>, IntegrityError> {
    let mut before = Chain::new(Vec::new(), ChainStart::default(), false);
    let mut position = Position::START;
    'fold: loop {
        let batch = read_hashed(&**client, position, false).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            break;
        };
        for event in &batch {
            if event.position > range.from {
                break 'fold;
            }
            before.fold_unchecked(event);
        }
        position = last;
    }
    let start = before.state();
    let start_position = start.position.unwrap_or(Position::START);
    let mut head = ExportLine::Start {
        format: FORMAT.to_owned(),
        transaction_id: start_position.transaction_id.0.to_string(),
        global_position: start_position.global_position,
        event_count: start.count,
        running_hash: hex::encode(start.running),
    }
    .text();
    let documents = (**client)
        .query(
            "SELECT document, transaction_id, global_position FROM audit_checkpoints
              ORDER BY transaction_id, global_position",
            &[],
        )
        .await?;
    for row in &documents {
        let at = Position {
            transaction_id: row.try_get(1)?,
            global_position: row.try_get(2)?,
        };
        if at > start_position && range.to.is_none_or(|to| at <= to) {
            head.push_str(
                &ExportLine::Checkpoint {
                    document: row.try_get(0)?,
                }
                .text(),
            );
        }
    }
    let cursor = Cursor {
        client,
        after: start_position,
        to: range.to,
        done: false,
    };
    let first = futures_util::stream::once(async move { Ok(head) });
    let rest = futures_util::stream::try_unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return Ok(None);
        }
        let batch = read_hashed(&**cursor.client, cursor.after, true).await?;
        let mut chunk = String::new();
        for event in &batch {
            if cursor.to.is_some_and(|to| event.position > to) {
                cursor.done = true;
                break;
            }
            chunk.push_str(&ExportLine::of_event(event).text());
            cursor.after = event.position;
        }
        if (batch.len() as i64) < BATCH {
            cursor.done = true;
        }
        Ok(Some((chunk, cursor)))
    });
    Ok(futures_util::StreamExt::chain(first, rest))
}

fn unreadable(line: usize, detail: impl Into<String>) -> Failure {
    Failure::at_checkpoint(
        FailureKind::Unreadable,
        None,
        format!("line {line}: {}", detail.into()),
    )
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// Verifies an export, line by line, with the checkpoint key `verifier`
/// trusts; nothing else is needed. Stops at the first failure and names it
/// (the event, or the line that does not read).
pub fn verify_export<I, S>(lines: I, verifier: &impl DocumentVerifier) -> Verification
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut chain: Option<Chain> = None;
    let mut start: Option<ChainStart> = None;
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    for (index, line) in lines.into_iter().enumerate() {
        let number = index + 1;
        let line = line.as_ref().trim();
        if line.is_empty() {
            continue;
        }
        let parsed: ExportLine = match serde_json::from_str(line) {
            Ok(parsed) => parsed,
            Err(error) => return Verification::empty().failed(unreadable(number, error.to_string())),
        };
        match parsed {
            ExportLine::Start {
                format,
                transaction_id,
                global_position,
                event_count,
                running_hash,
            } => {
                let running = hex_bytes(&running_hash).and_then(|b| <[u8; 32]>::try_from(b).ok());
                let transaction = transaction_id.parse::<u64>().ok();
                match (
                    format == FORMAT,
                    running,
                    transaction,
                    start.is_none() && number == 1,
                ) {
                    (true, Some(running), Some(transaction), true) => {
                        start = Some(ChainStart {
                            running,
                            count: event_count,
                            position: (global_position > 0).then_some(Position {
                                transaction_id: Xid8(transaction),
                                global_position,
                            }),
                        });
                    }
                    _ => {
                        return Verification::empty().failed(unreadable(
                            number,
                            "the start line is missing, repeated or malformed",
                        ));
                    }
                }
            }
            ExportLine::Checkpoint { document } => {
                if chain.is_some() {
                    return Verification::empty()
                        .failed(unreadable(number, "a checkpoint line after the events"));
                }
                match Checkpoint::from_document(&document, verifier) {
                    Ok(checkpoint) => checkpoints.push(checkpoint),
                    Err(detail) => {
                        return Verification::empty().failed(Failure::at_checkpoint(
                            FailureKind::BadSignature,
                            None,
                            format!("line {number}: {detail}"),
                        ));
                    }
                }
            }
            ExportLine::Event {
                transaction_id,
                global_position,
                aggregate_type,
                aggregate_id,
                sequence,
                event_type,
                event_version,
                payload,
                metadata,
                recorded_at_micros,
                hash,
                previous_hash,
            } => {
                let Some(start) = start.clone() else {
                    return Verification::empty()
                        .failed(unreadable(number, "an event before the start line"));
                };
                let chain =
                    chain.get_or_insert_with(|| Chain::new(std::mem::take(&mut checkpoints), start, true));
                let (Ok(transaction), Some(stored_hash)) = (transaction_id.parse::<u64>(), hex_bytes(&hash))
                else {
                    return chain.stop(unreadable(number, "an event's transaction or hash does not read"));
                };
                let previous_hash = match previous_hash.map(|p| hex_bytes(&p)) {
                    Some(None) => {
                        return chain.stop(unreadable(number, "an event's previous hash does not read"));
                    }
                    Some(Some(bytes)) => Some(bytes),
                    None => None,
                };
                let event = HashedEvent {
                    position: Position {
                        transaction_id: Xid8(transaction),
                        global_position,
                    },
                    aggregate_type,
                    aggregate_id,
                    sequence,
                    event_type,
                    event_version,
                    payload,
                    metadata,
                    recorded_at_micros,
                    stored_hash,
                    previous_hash,
                };
                if let Some(failure) = chain.check(&event) {
                    return chain.stop(failure);
                }
            }
        }
    }
    match (chain, start) {
        (Some(chain), _) => chain.finish(),
        (None, Some(start)) => Chain::new(checkpoints, start, true).finish(),
        (None, None) => Verification::empty().failed(unreadable(1, "the file has no start line")),
    }
}
