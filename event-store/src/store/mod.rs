//! The command side's event store: postgres-es's tables, columns and
//! optimistic-concurrency key, with three changes that make a command cheap
//! (docs/architecture.md, "The command path"):
//!
//! - **One statement per append.** Events (and the snapshot, when one is
//!   due) go in with a single `INSERT … SELECT unnest(…)` that commits on
//!   its own and returns the position of the last event, which becomes the
//!   answer's consistency token ([`Executed::appended`]).
//! - **The last known state stays in memory.** A load reads only the events
//!   after the state this process last saw (usually none: one short
//!   index probe), so a long stream costs the same as a short one and the
//!   load is always as fresh as the database: other processes' writes are
//!   read, never missed.
//! - **Personal data sealed on the way in, opened on the way out**
//!   ([`crate::personal_data`]), so aggregates decide on plaintext while
//!   the table holds only ciphertext of it.
//!
//! Commands run through a [`CommandBus`] per aggregate type: load, decide
//! (the domain's pure `decide`), append, and decide again when another
//! writer appended first; it answers with the appended position and the
//! state the command produced.

mod bus;
mod cache;
mod group_commit;
mod guard;
mod sql;

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, DomainEvent, EventEnvelope};
use sqlx::PgPool;

use crate::database::ReadPool;
use crate::event_log::Position;
use crate::metrics::METRICS;
use crate::personal_data::{PersonalData, PersonalDataError};
use crate::wakeup::AppendSignal;

pub use bus::{CommandBus, Executed};
pub use cache::BoundedCache;
pub use group_commit::GroupCommit;
pub use guard::{FactsMoved, Guard, facts_moved};
pub use sql::{Batch, NewEvent};

/// The metadata every appended event carries (actor, correlation, …).
pub type Metadata = HashMap<String, String>;

/// How one aggregate type is stored.
#[derive(Debug, Clone, Copy)]
pub struct StorePolicy {
    /// Write a snapshot every this many events (streams that grow without
    /// bound), or never. Snapshotted aggregates keep no personal data in
    /// their state (see `SEALED_FIELDS`).
    pub snapshot_every: Option<usize>,
    /// How many aggregates' last known state to keep in memory.
    pub cached: usize,
}

/// The event store of one aggregate type. Cheap to clone: clones share the
/// cache, so a framework and a plain loader of the same type see one state.
pub struct Store<A: Aggregate> {
    inner: Arc<Inner<A>>,
}

impl<A: Aggregate> Clone for Store<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<A: Aggregate> {
    pool: PgPool,
    /// The same database through tokio-postgres, for the loads.
    reads: ReadPool,
    group: GroupCommit,
    personal: Arc<PersonalData>,
    announce: AppendSignal,
    upcasters: Vec<Box<dyn EventUpcaster>>,
    policy: StorePolicy,
    known: BoundedCache<String, Known<A>>,
}

/// An aggregate's state as of a stream position.
#[derive(Clone)]
struct Known<A> {
    aggregate: A,
    sequence: usize,
    /// The position of the stream's stored snapshot.
    snapshot_sequence: usize,
    /// The hash of the stream's event at `sequence` (the next append's
    /// link in the chain); `None` before the first event.
    last_hash: Option<Vec<u8>>,
}

impl<A: Aggregate + Clone> Store<A> {
    /// A store over `pool` (and `reads`, the same database through
    /// tokio-postgres, for loads), appending through `group` (shared by every
    /// store of the process), sealing with `personal`, announcing appends
    /// through `announce`, reading old event versions through `upcasters`.
    pub fn new(
        pool: PgPool,
        reads: ReadPool,
        group: GroupCommit,
        personal: Arc<PersonalData>,
        announce: AppendSignal,
        upcasters: Vec<Box<dyn EventUpcaster>>,
        policy: StorePolicy,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                reads,
                group,
                personal,
                announce,
                upcasters,
                known: BoundedCache::new(policy.cached),
                policy,
            }),
        }
    }

    /// The aggregate as of the stream's last event (read through the state
    /// in memory: only the events after it are read).
    ///
    /// # Errors
    /// When the database fails or an event does not read.
    pub async fn state(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>> {
        Ok(self.load(aggregate_id).await?.aggregate)
    }

    /// The aggregate as this process last knew it — from memory, without a
    /// read, unless `fresh` or not held — with the [`Guard`] under which a
    /// command decided on it may append: no event of `event_types` (any,
    /// when empty) in its stream since.
    ///
    /// # Errors
    /// When the database fails or an event does not read.
    pub async fn state_guarded(
        &self,
        aggregate_id: &str,
        fresh: bool,
        event_types: &'static [&'static str],
    ) -> Result<(A, Guard), AggregateError<A::Error>> {
        let known = match self.inner.known.get(aggregate_id) {
            Some(known) if !fresh => known,
            _ => self.load(aggregate_id).await?,
        };
        let guard = Guard {
            aggregate_type: A::TYPE,
            aggregate_id: aggregate_id.to_owned(),
            sequence: i64::try_from(known.sequence).unwrap_or(i64::MAX),
            event_types,
        };
        Ok((known.aggregate, guard))
    }

    /// The position of the stream's last event (`START` when it has none):
    /// the consistency token of a command that appended nothing.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn stream_head(&self, aggregate_id: &str) -> Result<Position, crate::StoreError> {
        let client = self.inner.reads.get().await?;
        crate::lookups::positions::stream_head(&client, A::TYPE, aggregate_id).await
    }

    /// The aggregate as of the stream's last event: the state in memory (or
    /// the snapshot, or nothing) brought up to date with the events after it.
    async fn load(&self, aggregate_id: &str) -> Result<Known<A>, AggregateError<A::Error>> {
        let (mut known, cached) = match self.inner.known.get(aggregate_id) {
            Some(known) => (known, true),
            None => (self.snapshot_or_start(aggregate_id).await?, false),
        };
        let after = i64::try_from(known.sequence).unwrap_or(i64::MAX);
        let rows = sql::events_after(&self.inner.reads, A::TYPE, aggregate_id, after).await?;
        let read_any = !rows.is_empty();
        if let Some(last) = rows.last() {
            known.last_hash = Some(last.hash.clone());
        }
        for envelope in self.decode(aggregate_id, rows).await? {
            known.sequence = envelope.sequence;
            known.aggregate.apply(envelope.payload);
        }
        if read_any || !cached {
            let sequence = known.sequence;
            self.inner
                .known
                .put_unless(aggregate_id.to_owned(), known.clone(), |newer| {
                    newer.sequence >= sequence
                });
        }
        Ok(known)
    }

    /// The stored snapshot of the stream, or the empty aggregate before its
    /// first event (also when the snapshot no longer reads).
    async fn snapshot_or_start(&self, aggregate_id: &str) -> Result<Known<A>, AggregateError<A::Error>> {
        if self.inner.policy.snapshot_every.is_some()
            && let Some((sequence, state, last_hash)) =
                sql::latest_snapshot(&self.inner.reads, A::TYPE, aggregate_id).await?
            && last_hash.is_some()
        {
            match serde_json::from_value::<A>(state) {
                Ok(aggregate) => {
                    let sequence = usize::try_from(sequence).unwrap_or(0);
                    return Ok(Known {
                        aggregate,
                        sequence,
                        snapshot_sequence: sequence,
                        last_hash,
                    });
                }
                // The aggregate's shape changed: replay the whole stream; the
                // next snapshot written replaces this one.
                Err(error) => {
                    tracing::warn!(aggregate_type = A::TYPE, aggregate_id, %error, "snapshot no longer reads; replaying the stream");
                }
            }
        }
        Ok(Known {
            aggregate: A::default(),
            sequence: 0,
            snapshot_sequence: 0,
            last_hash: None,
        })
    }

    /// Stored rows as events: personal data opened, old versions upcast.
    async fn decode(
        &self,
        aggregate_id: &str,
        mut rows: Vec<sql::Row>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .personal
            .open_all(
                rows.iter_mut()
                    .map(|row| (A::TYPE, row.event_type.as_str(), &mut row.payload)),
            )
            .await
            .map_err(personal_data_error)?;
        rows.into_iter()
            .map(|row| {
                let mut event = SerializedEvent::new(
                    aggregate_id.to_owned(),
                    usize::try_from(row.sequence).unwrap_or(0),
                    A::TYPE.to_owned(),
                    row.event_type,
                    row.event_version,
                    row.payload,
                    row.metadata,
                );
                for upcaster in &self.inner.upcasters {
                    if upcaster.can_upcast(&event.event_type, &event.event_version) {
                        event = upcaster.upcast(event);
                    }
                }
                Ok(EventEnvelope {
                    aggregate_id: event.aggregate_id,
                    sequence: event.sequence,
                    payload: serde_json::from_value(event.payload).map_err(serde_error)?,
                    metadata: serde_json::from_value(event.metadata).unwrap_or_default(),
                })
            })
            .collect()
    }
}

impl<A: Aggregate + Clone> Store<A> {
    /// The state to decide a command on, and whether it was taken from
    /// memory without asking the database (`trust_memory`): such a state
    /// is trusted for the decision because its outcome is checked anyway
    /// (an append conflicts on the stream's key when another process wrote
    /// meanwhile, and [`Store::commit`] checks the stream before confirming a
    /// command that appends nothing). A refusal decided on it is not checked,
    /// so the bus decides again without trusting memory before refusing.
    async fn decision_state(
        &self,
        aggregate_id: &str,
        trust_memory: bool,
    ) -> Result<(Known<A>, bool), AggregateError<A::Error>> {
        if trust_memory && let Some(known) = self.inner.known.get(aggregate_id) {
            return Ok((known, true));
        }
        Ok((self.load(aggregate_id).await?, false))
    }

    /// Appends `events` decided on `known` (its state, from memory when
    /// `unchecked`) with `metadata`, if `guard` still holds; the position
    /// of the last one, or `None` when there were none.
    ///
    /// # Errors
    /// [`AggregateError::AggregateConflict`] when another writer appended to
    /// the stream first; [`FactsMoved`] when the guarded stream moved; the
    /// database's failure otherwise.
    async fn commit(
        &self,
        aggregate_id: &str,
        events: Vec<A::Event>,
        (known, unchecked): (Known<A>, bool),
        metadata: &Metadata,
        guard: Option<&Guard>,
    ) -> Result<(Option<Position>, A), AggregateError<A::Error>> {
        let mut known = known;
        if events.is_empty() {
            // No append to check the guard: check it here.
            if let Some(guard) = guard
                && sql::guard_moved(&self.inner.reads, guard).await?
            {
                return Err(AggregateError::UnexpectedError(Box::new(FactsMoved)));
            }
            // Nothing to append, so no key to conflict on: an answer decided
            // on unchecked state stands only if the stream did not move.
            if unchecked {
                let after = i64::try_from(known.sequence).unwrap_or(i64::MAX);
                let newer = sql::events_after(&self.inner.reads, A::TYPE, aggregate_id, after).await?;
                if !newer.is_empty() {
                    self.inner.known.remove(aggregate_id);
                    return Err(AggregateError::AggregateConflict);
                }
            }
            return Ok((None, known.aggregate));
        }
        let mut stored_metadata = serde_json::to_value(metadata).map_err(serde_error)?;
        self.inner
            .personal
            .seal_metadata(&mut stored_metadata)
            .await
            .map_err(personal_data_error)?;
        let mut batch = sql::Batch::chained_from(known.last_hash.clone());
        batch.guard = guard.cloned();
        let count = events.len();
        for event in events {
            known.sequence += 1;
            let event_type = event.event_type();
            let mut payload = serde_json::to_value(&event).map_err(serde_error)?;
            self.inner
                .personal
                .seal(A::TYPE, aggregate_id, &event_type, &mut payload)
                .await
                .map_err(personal_data_error)?;
            batch.push(
                A::TYPE,
                aggregate_id,
                sql::NewEvent {
                    sequence: i64::try_from(known.sequence).unwrap_or(i64::MAX),
                    event_type,
                    event_version: event.event_version(),
                    payload,
                    metadata: stored_metadata.clone(),
                },
            );
            known.aggregate.apply(event);
        }
        known.last_hash = batch.last_hash().map(<[u8]>::to_vec);
        let snapshot = self.snapshot_due(&known)?;
        let snapshot_written = snapshot.is_some();
        let appended = match snapshot {
            // A snapshot goes in the same statement as its stream's events.
            Some(snapshot) => {
                sql::append_rows(&self.inner.pool, A::TYPE, aggregate_id, &batch, Some(snapshot)).await
            }
            None => self.inner.group.append(A::TYPE, aggregate_id, batch).await,
        }
        .map_err(sql::aggregate_error);
        let position = match appended {
            Ok(position) => position,
            Err(error) => {
                // A conflict means the state in memory is behind; a lost
                // connection leaves the outcome unknown. Either way the
                // next load starts from the database.
                self.inner.known.remove(aggregate_id);
                return Err(error);
            }
        };
        self.inner.announce.appended();
        METRICS
            .events_appended
            .with_label_values(&[A::TYPE])
            .inc_by(u64::try_from(count).unwrap_or(0));
        if snapshot_written {
            known.snapshot_sequence = known.sequence;
        }
        let sequence = known.sequence;
        let state = known.aggregate.clone();
        self.inner
            .known
            .put_unless(aggregate_id.to_owned(), known, |newer| newer.sequence >= sequence);
        Ok((Some(position), state))
    }

    /// Every event of the stream, opened and upcast.
    ///
    /// # Errors
    /// When the database fails or an event does not read.
    pub async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let rows = sql::events_after(&self.inner.reads, A::TYPE, aggregate_id, 0).await?;
        self.decode(aggregate_id, rows).await
    }
}

impl<A: Aggregate + Clone> Store<A> {
    /// The snapshot to write with this append: when the stream crossed a
    /// multiple of `snapshot_every` since the stored one.
    fn snapshot_due(
        &self,
        known: &Known<A>,
    ) -> Result<Option<sql::SnapshotUpdate>, AggregateError<A::Error>> {
        let Some(every) = self.inner.policy.snapshot_every.map(|every| every.max(1)) else {
            return Ok(None);
        };
        if known.sequence / every <= known.snapshot_sequence / every {
            return Ok(None);
        }
        Ok(Some(sql::SnapshotUpdate {
            last_sequence: i64::try_from(known.sequence).unwrap_or(i64::MAX),
            number: i64::try_from(known.sequence / every).unwrap_or(i64::MAX),
            state: serde_json::to_value(&known.aggregate).map_err(serde_error)?,
        }))
    }
}

fn serde_error<E: std::error::Error>(error: serde_json::Error) -> AggregateError<E> {
    AggregateError::DeserializationError(Box::new(error))
}

fn personal_data_error<E: std::error::Error>(error: PersonalDataError) -> AggregateError<E> {
    match error {
        PersonalDataError::Database(_) => AggregateError::DatabaseConnectionError(Box::new(error)),
        other => AggregateError::UnexpectedError(Box::new(other)),
    }
}
