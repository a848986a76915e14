//! Re-sealing the network details of events written before they were
//! sealed: the one rewrite of stored history, recorded so the audit shows it.
//!
//! Those events hold a request's address and user agent in plaintext in
//! `metadata`, which their hash covers. Sealing them in place changes their
//! hashes, every later hash of their streams, and the running hash of every
//! checkpoint from the first of them on. So the rewrite, in one
//! transaction that holds appends off: seals them (an erased actor's are
//! dropped), recomputes the changed streams' chains, replaces the
//! checkpoints whose running hash changed with newly signed ones, and
//! records each rewritten event's old and new hash, each replaced
//! checkpoint, and one signed document over the lot
//! (`migrations/0030_audit_rewrites.sql`). Verification then checks the
//! document and that every replaced checkpoint still holds with the old
//! hashes put back: nothing but the listed events changed.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio_postgres::Transaction;

use super::{
    CHECKPOINT_LOCK, Checkpoint, DocumentSigner, HashedEvent, IntegrityError, event_hash, fold, read_hashed,
};
use crate::event_log::{Position, Xid8};
use crate::personal_data::{PersonalData, SEALED_METADATA, SEALED_PREFIX};

/// The implicit assertion of rewrite documents.
pub const REWRITE_PURPOSE: &str = "zekka:audit-rewrite:v1";

/// The reason recorded for re-sealing.
const RESEAL_REASON: &str = "reseal-metadata: request addresses and user agents written before sealing";

/// What a re-sealing did, or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResealReport {
    /// Nothing was written (a dry run rolls its work back).
    pub dry_run: bool,
    /// The recorded rewrite, when one was made.
    pub rewrite_id: Option<i64>,
    /// Events whose metadata was sealed (or dropped, for an erased actor).
    pub events_resealed: i64,
    /// Events whose hash changed: those, and the later events of their streams.
    pub events_rewritten: i64,
    /// Checkpoints replaced by newly signed ones.
    pub checkpoints_superseded: i64,
}

/// One event whose hash the rewrite changed.
#[derive(Debug, Clone)]
pub(crate) struct RewrittenEvent {
    pub position: Position,
    pub old_hash: Vec<u8>,
    pub new_hash: Vec<u8>,
    pub resealed: bool,
}

/// SHA-256 over the rewritten events in commit order: each position (two
/// 8-byte big-endian integers), old hash, new hash and a resealed byte.
pub(crate) fn rewrite_digest(events: &[RewrittenEvent]) -> [u8; 32] {
    let mut sorted: Vec<&RewrittenEvent> = events.iter().collect();
    sorted.sort_by_key(|e| e.position);
    let mut hasher = Sha256::new();
    for event in sorted {
        hasher.update(event.position.transaction_id.0.to_be_bytes());
        hasher.update(event.position.global_position.to_be_bytes());
        hasher.update(&event.old_hash);
        hasher.update(&event.new_hash);
        hasher.update([u8::from(event.resealed)]);
    }
    hasher.finalize().into()
}

/// The claims a rewrite document signs.
pub(crate) fn rewrite_claims(
    rewrite_id: i64,
    reason: &str,
    events_rewritten: i64,
    events_resealed: i64,
    checkpoints_superseded: i64,
    digest: &[u8],
) -> Map<String, Value> {
    let claims = json!({
        "rewrite_id": rewrite_id,
        "reason": reason,
        "events_rewritten": events_rewritten,
        "events_resealed": events_resealed,
        "checkpoints_superseded": checkpoints_superseded,
        "digest": hex::encode(digest),
    });
    claims.as_object().cloned().unwrap_or_default()
}

/// Seals every plaintext address and user agent left in stored metadata,
/// rewriting the chains and checkpoints it changes and recording the
/// rewrite (see the module's documentation). Appends wait while it runs.
/// With `dry_run`, counts what it would do and writes nothing.
///
/// # Errors
/// When the database or the key store fails, signing fails, or an event no
/// longer matches its hash (nothing tampered is re-signed).
pub async fn reseal_metadata(
    client: &mut deadpool_postgres::Object,
    personal: &PersonalData,
    signer: &impl DocumentSigner,
    dry_run: bool,
) -> Result<ResealReport, IntegrityError> {
    let tx = client.transaction().await?;
    // Appends would read a predecessor's hash this rewrite is changing.
    tx.batch_execute("LOCK TABLE events IN EXCLUSIVE MODE").await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHECKPOINT_LOCK])
        .await?;
    let resealed = seal_plaintext(&tx, personal).await?;
    let mut report = ResealReport {
        dry_run,
        rewrite_id: None,
        events_resealed: resealed
            .values()
            .map(|s| i64::try_from(s.len()).unwrap_or(i64::MAX))
            .sum(),
        events_rewritten: 0,
        checkpoints_superseded: 0,
    };
    if resealed.is_empty() {
        return Ok(report);
    }
    let rewrite_id: i64 = tx
        .query_one(
            "INSERT INTO audit_rewrites (reason, events_rewritten, events_resealed, checkpoints_superseded,
                                         digest, document, key_id)
             VALUES ($1, 0, 0, 0, '', '', '') RETURNING rewrite_id",
            &[&RESEAL_REASON],
        )
        .await?
        .try_get(0)?;
    let mut rewritten = Vec::new();
    for (stream, sequences) in &resealed {
        rewritten.extend(rechain(&tx, stream, sequences).await?);
    }
    store_rewritten(&tx, rewrite_id, &rewritten).await?;
    let superseded = resign_checkpoints(&tx, rewrite_id, signer).await?;
    report.events_rewritten = i64::try_from(rewritten.len()).unwrap_or(i64::MAX);
    report.checkpoints_superseded = superseded;
    let digest = rewrite_digest(&rewritten);
    let claims = rewrite_claims(
        rewrite_id,
        RESEAL_REASON,
        report.events_rewritten,
        report.events_resealed,
        superseded,
        &digest,
    );
    let (document, key_id) = signer
        .sign(REWRITE_PURPOSE, &claims)
        .map_err(IntegrityError::Signing)?;
    tx.execute(
        "UPDATE audit_rewrites
            SET events_rewritten = $2, events_resealed = $3, checkpoints_superseded = $4,
                digest = $5, document = $6, key_id = $7
          WHERE rewrite_id = $1",
        &[
            &rewrite_id,
            &report.events_rewritten,
            &report.events_resealed,
            &superseded,
            &digest.as_slice(),
            &document,
            &key_id,
        ],
    )
    .await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
        report.rewrite_id = Some(rewrite_id);
    }
    Ok(report)
}

/// A stream, by its type and id.
type Stream = (String, String);

/// Seals the plaintext metadata in place; the sequences sealed, by stream.
async fn seal_plaintext(
    tx: &Transaction<'_>,
    personal: &PersonalData,
) -> Result<BTreeMap<Stream, Vec<i64>>, IntegrityError> {
    let pattern = format!("{SEALED_PREFIX}%");
    let fields: Vec<String> = SEALED_METADATA.iter().map(|f| (*f).to_owned()).collect();
    let rows = tx
        .query(
            "SELECT aggregate_type, aggregate_id, sequence, metadata FROM events
              WHERE metadata ? 'actor'
                AND EXISTS (SELECT 1 FROM unnest($1::text[]) AS f(name)
                             WHERE jsonb_typeof(metadata -> f.name) = 'string'
                               AND metadata ->> f.name NOT LIKE $2)
              ORDER BY aggregate_type, aggregate_id, sequence",
            &[&fields, &pattern],
        )
        .await?;
    let mut sealed: BTreeMap<Stream, Vec<i64>> = BTreeMap::new();
    for row in rows {
        let stream: Stream = (row.try_get(0)?, row.try_get(1)?);
        let sequence: i64 = row.try_get(2)?;
        let mut metadata: Value = row.try_get(3)?;
        let changed = personal.seal_legacy_metadata(&mut metadata).await?;
        if !changed {
            continue;
        }
        tx.execute(
            "UPDATE events SET metadata = $4
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
            &[&stream.0, &stream.1, &sequence, &metadata],
        )
        .await?;
        sealed.entry(stream).or_default().push(sequence);
    }
    Ok(sealed)
}

/// Recomputes `stream`'s hash chain from its first sealed event on,
/// storing the new hashes; the events whose hash changed.
async fn rechain(
    tx: &Transaction<'_>,
    stream: &Stream,
    sealed: &[i64],
) -> Result<Vec<RewrittenEvent>, IntegrityError> {
    let first = sealed.iter().copied().min().unwrap_or(1);
    let rows = tx
        .query(
            "SELECT transaction_id, global_position, sequence, event_type, event_version, payload::text,
                    metadata::text, (extract(epoch FROM recorded_at) * 1000000)::bigint, hash
               FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence >= $3
              ORDER BY sequence",
            &[&stream.0, &stream.1, &(first - 1)],
        )
        .await?;
    let mut previous: Option<Vec<u8>> = None;
    let mut rewritten = Vec::new();
    for row in rows {
        let event = HashedEvent {
            position: Position {
                transaction_id: row.try_get(0)?,
                global_position: row.try_get(1)?,
            },
            aggregate_type: stream.0.clone(),
            aggregate_id: stream.1.clone(),
            sequence: row.try_get(2)?,
            event_type: row.try_get(3)?,
            event_version: row.try_get(4)?,
            payload: row.try_get(5)?,
            metadata: row.try_get(6)?,
            recorded_at_micros: row.try_get(7)?,
            stored_hash: row.try_get(8)?,
            previous_hash: None,
        };
        if event.sequence < first {
            previous = Some(event.stored_hash);
            continue;
        }
        let hash = event_hash(previous.as_deref(), &event).to_vec();
        if hash != event.stored_hash {
            tx.execute(
                "UPDATE events SET hash = $4
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
                &[&stream.0, &stream.1, &event.sequence, &hash],
            )
            .await?;
            rewritten.push(RewrittenEvent {
                position: event.position,
                old_hash: event.stored_hash,
                new_hash: hash.clone(),
                resealed: sealed.contains(&event.sequence),
            });
        }
        previous = Some(hash);
    }
    Ok(rewritten)
}

async fn store_rewritten(
    tx: &Transaction<'_>,
    rewrite_id: i64,
    rewritten: &[RewrittenEvent],
) -> Result<(), IntegrityError> {
    for chunk in rewritten.chunks(1_000) {
        let transactions: Vec<Xid8> = chunk.iter().map(|e| e.position.transaction_id).collect();
        let positions: Vec<i64> = chunk.iter().map(|e| e.position.global_position).collect();
        let old: Vec<&[u8]> = chunk.iter().map(|e| e.old_hash.as_slice()).collect();
        let new: Vec<&[u8]> = chunk.iter().map(|e| e.new_hash.as_slice()).collect();
        let resealed: Vec<bool> = chunk.iter().map(|e| e.resealed).collect();
        tx.execute(
            "INSERT INTO audit_rewritten_events
                 (rewrite_id, transaction_id, global_position, old_hash, new_hash, resealed)
             SELECT $1, t, p, o, n, r
               FROM unnest($2::xid8[], $3::bigint[], $4::bytea[], $5::bytea[], $6::boolean[]) AS u(t, p, o, n, r)",
            &[&rewrite_id, &transactions, &positions, &old, &new, &resealed],
        )
        .await?;
    }
    Ok(())
}

/// Folds the whole store again, checking every event against its (new)
/// hash, and replaces each checkpoint whose running hash changed with a
/// newly signed one, keeping the old one under the rewrite. How many.
async fn resign_checkpoints(
    tx: &Transaction<'_>,
    rewrite_id: i64,
    signer: &impl DocumentSigner,
) -> Result<i64, IntegrityError> {
    let rows = tx
        .query(
            "SELECT transaction_id, global_position, event_count, running_hash FROM audit_checkpoints
              ORDER BY transaction_id, global_position",
            &[],
        )
        .await?;
    let mut pending = VecDeque::new();
    for row in rows {
        let position = Position {
            transaction_id: row.try_get(0)?,
            global_position: row.try_get(1)?,
        };
        pending.push_back((position, row.try_get::<_, i64>(2)?, row.try_get::<_, Vec<u8>>(3)?));
    }
    let (mut running, mut count, mut superseded) = ([0_u8; 32], 0_i64, 0_i64);
    let mut position = Position::START;
    while !pending.is_empty() {
        let batch = read_hashed(tx, position, false).await?;
        let Some(last) = batch.last() else { break };
        let next = last.position;
        for event in &batch {
            while let Some((at, _, _)) = pending.front()
                && *at < event.position
            {
                if let Some(checkpoint) = pending.pop_front() {
                    superseded += settle(tx, rewrite_id, signer, checkpoint, count, &running).await?;
                }
            }
            let hash = event_hash(event.previous_hash.as_deref(), event);
            if hash.as_slice() != event.stored_hash.as_slice() {
                return Err(IntegrityError::Tampered(event.position.global_position));
            }
            running = fold(&running, &hash, event.position.global_position);
            count += 1;
        }
        position = next;
    }
    while let Some(checkpoint) = pending.pop_front() {
        superseded += settle(tx, rewrite_id, signer, checkpoint, count, &running).await?;
    }
    Ok(superseded)
}

/// Keeps a checkpoint whose running hash still holds; otherwise moves it
/// under the rewrite and signs its replacement. 1 when replaced.
async fn settle(
    tx: &Transaction<'_>,
    rewrite_id: i64,
    signer: &impl DocumentSigner,
    (position, event_count, stored): (Position, i64, Vec<u8>),
    count: i64,
    running: &[u8; 32],
) -> Result<i64, IntegrityError> {
    if stored.as_slice() == running.as_slice() && event_count == count {
        return Ok(0);
    }
    if event_count != count {
        // A rewrite changes hashes, never how many events stand before a
        // checkpoint: a different count is damage, not something to re-sign.
        return Err(IntegrityError::Tampered(position.global_position));
    }
    let (document, key_id) = signer
        .sign(
            super::CHECKPOINT_PURPOSE,
            &Checkpoint::claims(position, count, running),
        )
        .map_err(IntegrityError::Signing)?;
    tx.execute(
        "INSERT INTO audit_superseded_checkpoints
             (rewrite_id, transaction_id, global_position, event_count, running_hash, document, key_id, created_at)
         SELECT $1, transaction_id, global_position, event_count, running_hash, document, key_id, created_at
           FROM audit_checkpoints WHERE transaction_id = $2 AND global_position = $3",
        &[&rewrite_id, &position.transaction_id, &position.global_position],
    )
    .await?;
    tx.execute(
        "UPDATE audit_checkpoints SET running_hash = $3, document = $4, key_id = $5
          WHERE transaction_id = $1 AND global_position = $2",
        &[
            &position.transaction_id,
            &position.global_position,
            &running.as_slice(),
            &document,
            &key_id,
        ],
    )
    .await?;
    Ok(1)
}
