//! Verifying the recorded rewrites of history (`reseal.rs` makes them):
//! each rewrite's signed document against its rows, and each checkpoint it
//! replaced against the running hash with the old hashes put back.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::GenericClient;

use super::failure::{Failure, FailureKind, compare};
use super::reseal::{REWRITE_PURPOSE, RewrittenEvent, rewrite_claims, rewrite_digest};
use super::{Checkpoint, DocumentVerifier, HashedEvent, IntegrityError, fold};
use crate::event_log::Position;

/// A rewrite of history, as the verification report lists it: the audit
/// shows every time stored events were changed in place, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RewriteSummary {
    /// Its number.
    pub rewrite_id: i64,
    /// Why it was made.
    pub reason: String,
    /// When.
    pub performed_at: DateTime<Utc>,
    /// Events whose hash changed.
    pub events_rewritten: i64,
    /// Events whose metadata was sealed.
    pub events_resealed: i64,
    /// Checkpoints replaced by newly signed ones (each still checked with
    /// the old hashes put back).
    pub checkpoints_superseded: i64,
}

/// The store as it stood before one rewrite: the old hashes of the events
/// it (or a later rewrite) changed, and the checkpoints it replaced.
pub(crate) struct History {
    rewrite_id: i64,
    old_hashes: HashMap<Position, [u8; 32]>,
    pending: VecDeque<Checkpoint>,
    running: [u8; 32],
    count: i64,
}

impl History {
    /// Compares the replaced checkpoints before `next` (every one, when
    /// `None`) with the running hash of the old store so far.
    pub(crate) fn settle(&mut self, next: Option<Position>) -> Result<usize, Failure> {
        let mut checked = 0;
        while let Some(checkpoint) = self.pending.front()
            && next.is_none_or(|next| checkpoint.position < next)
        {
            if let Some(mut failure) = compare(checkpoint, self.count, &self.running) {
                failure.detail = format!(
                    "{} (a checkpoint replaced by rewrite {}, with that rewrite's old hashes put back)",
                    failure.detail, self.rewrite_id
                );
                return Err(failure);
            }
            self.pending.pop_front();
            checked += 1;
        }
        Ok(checked)
    }

    /// Folds `event` in as the old store held it.
    pub(crate) fn fold(&mut self, event: &HashedEvent, hash: &[u8; 32]) {
        let hash = self.old_hashes.get(&event.position).unwrap_or(hash);
        self.running = fold(&self.running, hash, event.position.global_position);
        self.count += 1;
    }
}

/// The recorded rewrites, each checked against its signed document, and
/// the old stores their replaced checkpoints are compared with; or the
/// first thing that does not match.
pub(crate) async fn load(
    client: &impl GenericClient,
    verifier: &impl DocumentVerifier,
) -> Result<Result<(Vec<RewriteSummary>, Vec<History>), Failure>, IntegrityError> {
    let rows = client
        .query(
            "SELECT rewrite_id, reason, performed_at, events_rewritten, events_resealed,
                    checkpoints_superseded, digest, document
               FROM audit_rewrites ORDER BY rewrite_id",
            &[],
        )
        .await?;
    let mut summaries = Vec::new();
    let mut changed = Vec::new();
    let mut replaced = Vec::new();
    for row in &rows {
        let summary = RewriteSummary {
            rewrite_id: row.try_get(0)?,
            reason: row.try_get(1)?,
            performed_at: row.try_get(2)?,
            events_rewritten: row.try_get(3)?,
            events_resealed: row.try_get(4)?,
            checkpoints_superseded: row.try_get(5)?,
        };
        let digest: Vec<u8> = row.try_get(6)?;
        let document: String = row.try_get(7)?;
        let events = rewritten_events(client, summary.rewrite_id).await?;
        let checkpoints = superseded(client, summary.rewrite_id, verifier).await?;
        let checkpoints = match checkpoints {
            Ok(checkpoints) => checkpoints,
            Err(failure) => return Ok(Err(failure)),
        };
        if let Err(failure) = matches_document(&summary, &digest, &document, &events, &checkpoints, verifier)
        {
            return Ok(Err(failure));
        }
        summaries.push(summary);
        changed.push(events);
        replaced.push(checkpoints);
    }
    // Before rewrite r, an event held the old hash of the first rewrite at
    // or after r that changed it: build the substitutions from the last.
    let mut old_hashes: HashMap<Position, [u8; 32]> = HashMap::new();
    let mut histories = Vec::new();
    for ((summary, events), checkpoints) in summaries.iter().zip(changed).zip(replaced).rev() {
        for event in events {
            let hash = <[u8; 32]>::try_from(event.old_hash.as_slice()).unwrap_or([0; 32]);
            old_hashes.insert(event.position, hash);
        }
        let mut pending: Vec<Checkpoint> = checkpoints;
        pending.sort_by_key(|c| c.position);
        histories.push(History {
            rewrite_id: summary.rewrite_id,
            old_hashes: old_hashes.clone(),
            pending: pending.into(),
            running: [0; 32],
            count: 0,
        });
    }
    histories.reverse();
    Ok(Ok((summaries, histories)))
}

/// The signed document states exactly this rewrite's rows.
fn matches_document(
    summary: &RewriteSummary,
    digest: &[u8],
    document: &str,
    events: &[RewrittenEvent],
    checkpoints: &[Checkpoint],
    verifier: &impl DocumentVerifier,
) -> Result<(), Failure> {
    let id = summary.rewrite_id;
    let mismatch = |detail: String| Failure::at_checkpoint(FailureKind::RewriteMismatch, None, detail);
    let claims = verifier.verify(document, REWRITE_PURPOSE).map_err(|e| {
        Failure::at_checkpoint(
            FailureKind::BadSignature,
            None,
            format!("rewrite {id}: its signature does not verify: {e}"),
        )
    })?;
    let recorded = rewrite_claims(
        id,
        &summary.reason,
        summary.events_rewritten,
        summary.events_resealed,
        summary.checkpoints_superseded,
        digest,
    );
    if claims.iter().filter(|(k, _)| recorded.contains_key(*k)).count() != recorded.len()
        || recorded.iter().any(|(k, v)| claims.get(k) != Some(v))
    {
        return Err(mismatch(format!(
            "rewrite {id}: its record differs from what was signed"
        )));
    }
    let resealed = events.iter().filter(|e| e.resealed).count();
    if rewrite_digest(events).as_slice() != digest
        || usize::try_from(summary.events_rewritten).ok() != Some(events.len())
        || usize::try_from(summary.events_resealed).ok() != Some(resealed)
        || usize::try_from(summary.checkpoints_superseded).ok() != Some(checkpoints.len())
    {
        return Err(mismatch(format!(
            "rewrite {id}: the events or checkpoints it lists differ from what was signed"
        )));
    }
    Ok(())
}

async fn rewritten_events(
    client: &impl GenericClient,
    rewrite_id: i64,
) -> Result<Vec<RewrittenEvent>, IntegrityError> {
    let rows = client
        .query(
            "SELECT transaction_id, global_position, old_hash, new_hash, resealed
               FROM audit_rewritten_events WHERE rewrite_id = $1",
            &[&rewrite_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(RewrittenEvent {
                position: Position {
                    transaction_id: row.try_get(0)?,
                    global_position: row.try_get(1)?,
                },
                old_hash: row.try_get(2)?,
                new_hash: row.try_get(3)?,
                resealed: row.try_get(4)?,
            })
        })
        .collect()
}

async fn superseded(
    client: &impl GenericClient,
    rewrite_id: i64,
    verifier: &impl DocumentVerifier,
) -> Result<Result<Vec<Checkpoint>, Failure>, IntegrityError> {
    let rows = client
        .query(
            "SELECT document, global_position FROM audit_superseded_checkpoints WHERE rewrite_id = $1",
            &[&rewrite_id],
        )
        .await?;
    let mut checkpoints = Vec::new();
    for row in &rows {
        let document: String = row.try_get(0)?;
        match Checkpoint::from_document(&document, verifier) {
            Ok(checkpoint) => checkpoints.push(checkpoint),
            Err(detail) => {
                return Ok(Err(Failure::at_checkpoint(
                    FailureKind::BadSignature,
                    Some(row.try_get(1)?),
                    format!("{detail} (a checkpoint replaced by rewrite {rewrite_id})"),
                )));
            }
        }
    }
    Ok(Ok(checkpoints))
}
