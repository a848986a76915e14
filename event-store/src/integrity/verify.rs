//! Verifying the whole store: every event against its hash, every stream
//! for gaps, the running hash against every signed checkpoint.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;
use tokio_postgres::GenericClient;

use super::failure::{Failure, FailureKind, compare};
use super::rewrites::{self, History, RewriteSummary};
use super::{Checkpoint, DocumentVerifier, HashedEvent, IntegrityError, event_hash, fold, read_hashed};
use crate::event_log::Position;

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
    /// Every recorded rewrite of stored history (re-sealing), checked.
    pub rewrites: Vec<RewriteSummary>,
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
    verify_with_progress(client, verifier, kept, |_| async {}).await
}

/// [`verify`], telling `progress` the events checked so far after every
/// batch (a background verification stores it).
///
/// # Errors
/// When the database fails.
pub async fn verify_with_progress<F, Fut>(
    client: &impl GenericClient,
    verifier: &impl DocumentVerifier,
    kept: &[String],
    mut progress: F,
) -> Result<Verification, IntegrityError>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let report = Verification::empty();
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
    let (summaries, histories) = match rewrites::load(client, verifier).await? {
        Ok(loaded) => loaded,
        Err(failure) => return Ok(report.failed(failure)),
    };
    let mut chain = Chain::new(checkpoints, ChainStart::default(), false);
    chain.histories = histories;
    chain.report.rewrites = summaries;
    let mut position = Position::START;
    loop {
        let batch = read_hashed(client, position, false).await?;
        let Some(last) = batch.last() else { break };
        let next = last.position;
        for event in &batch {
            if let Some(failure) = chain.check(event) {
                return Ok(chain.stop(failure));
            }
        }
        progress(chain.report.events_checked).await;
        position = next;
    }
    Ok(chain.finish())
}

/// Where a checked chain starts: the running hash and count after every
/// event before it (zero at the start of the store).
#[derive(Debug, Clone, Default)]
pub struct ChainStart {
    /// The running hash so far.
    pub running: [u8; 32],
    /// Events before.
    pub count: i64,
    /// The last event before, if any.
    pub position: Option<Position>,
}

/// A stream, by its type and id.
type StreamKey = (String, String);

/// Checks events in commit order against their hashes, their streams and
/// the signed checkpoints: the database's verification and an export's.
pub struct Chain {
    running: [u8; 32],
    count: i64,
    pending: VecDeque<Checkpoint>,
    last: Option<Position>,
    /// For an export: each stream's last sequence and hash seen, so a
    /// missing or moved line is found without the database.
    streams: Option<HashMap<StreamKey, (i64, Vec<u8>)>>,
    /// The store as it stood before each recorded rewrite.
    histories: Vec<History>,
    /// What was found so far.
    pub report: Verification,
}

impl Chain {
    /// A chain from `start`, comparing with `checkpoints` (those at or
    /// before the start are left out); `track_streams` for exports.
    pub fn new(mut checkpoints: Vec<Checkpoint>, start: ChainStart, track_streams: bool) -> Self {
        checkpoints.sort_by_key(|c| c.position);
        checkpoints.retain(|c| start.position.is_none_or(|p| c.position > p));
        Self {
            running: start.running,
            count: start.count,
            pending: checkpoints.into(),
            last: start.position,
            streams: track_streams.then(HashMap::new),
            histories: Vec::new(),
            report: Verification::empty(),
        }
    }

    /// Checks the next event; the failure, if it is one.
    pub fn check(&mut self, event: &HashedEvent) -> Option<Failure> {
        if self.last.is_some_and(|last| event.position <= last) {
            let detail = format!(
                "event {} of {}/{} stands out of commit order",
                event.sequence, event.aggregate_type, event.aggregate_id
            );
            return Some(Failure::at_event(FailureKind::OutOfOrder, event, detail));
        }
        while let Some(checkpoint) = self.pending.front()
            && checkpoint.position < event.position
        {
            if let Some(failure) = compare(checkpoint, self.count, &self.running) {
                return Some(failure);
            }
            self.report.checkpoints_checked += 1;
            self.pending.pop_front();
        }
        let stream = (event.aggregate_type.clone(), event.aggregate_id.clone());
        let seen = self.streams.as_ref().and_then(|streams| streams.get(&stream));
        let gap = match seen {
            Some((sequence, hash)) => {
                event.sequence != sequence + 1 || event.previous_hash.as_deref() != Some(hash.as_slice())
            }
            None => event.sequence > 1 && event.previous_hash.is_none(),
        };
        if gap {
            let detail = format!(
                "event {} of {}/{} is missing: this event follows a gap in its stream",
                event.sequence - 1,
                event.aggregate_type,
                event.aggregate_id
            );
            return Some(Failure::at_event(FailureKind::Missing, event, detail));
        }
        let hash = event_hash(event.previous_hash.as_deref(), event);
        if hash.as_slice() != event.stored_hash.as_slice() {
            let detail = format!(
                "event {} of {}/{} does not match its hash: its content, place or predecessor changed",
                event.sequence, event.aggregate_type, event.aggregate_id
            );
            return Some(Failure::at_event(FailureKind::Altered, event, detail));
        }
        for history in &mut self.histories {
            match history.settle(Some(event.position)) {
                Ok(checked) => self.report.checkpoints_checked += i64::try_from(checked).unwrap_or(0),
                Err(failure) => return Some(failure),
            }
            history.fold(event, &hash);
        }
        if let Some(streams) = &mut self.streams {
            streams.insert(stream, (event.sequence, hash.to_vec()));
        }
        self.running = fold(&self.running, &hash, event.position.global_position);
        self.count += 1;
        self.last = Some(event.position);
        self.report.events_checked += 1;
        self.report.last_position = Some(event.position.global_position);
        None
    }

    /// The report so far, ending at `failure`.
    pub fn stop(&mut self, failure: Failure) -> Verification {
        std::mem::replace(&mut self.report, Verification::empty()).failed(failure)
    }

    /// The report once every event was checked: the checkpoints after the
    /// last event are compared too.
    pub fn finish(mut self) -> Verification {
        while let Some(checkpoint) = self.pending.pop_front() {
            if let Some(failure) = compare(&checkpoint, self.count, &self.running) {
                return self.report.failed(failure);
            }
            self.report.checkpoints_checked += 1;
        }
        for history in &mut self.histories {
            match history.settle(None) {
                Ok(checked) => self.report.checkpoints_checked += i64::try_from(checked).unwrap_or(0),
                Err(failure) => return self.report.failed(failure),
            }
        }
        self.report
    }

    /// Folds `event`'s stored hash in without checking it: the events
    /// before an export's range, which the export vouches for with its
    /// start line.
    pub fn fold_unchecked(&mut self, event: &HashedEvent) {
        let hash: [u8; 32] = <[u8; 32]>::try_from(event.stored_hash.as_slice()).unwrap_or([0; 32]);
        self.running = fold(&self.running, &hash, event.position.global_position);
        self.count += 1;
        self.last = Some(event.position);
    }

    /// The running hash and count so far (where an export's next range starts).
    pub fn state(&self) -> ChainStart {
        ChainStart {
            running: self.running,
            count: self.count,
            position: self.last,
        }
    }
}

impl Verification {
    /// Nothing checked yet, nothing failed.
    pub fn empty() -> Self {
        Self {
            intact: true,
            events_checked: 0,
            checkpoints_checked: 0,
            last_position: None,
            first_failure: None,
            rewrites: Vec::new(),
        }
    }

    /// The report with `failure` as its first.
    pub fn failed(mut self, failure: Failure) -> Self {
        self.intact = false;
        self.first_failure = Some(failure);
        self
    }
}
