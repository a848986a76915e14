//! [`Projector`]: drives one projection through the event stream, into its
//! live tables or into a rebuild's shadow schema.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::Instrument;
use zekka_event_store::database::ReadPool;
use zekka_event_store::event_log::{self, Position, StoredEvent, Xid8};
use zekka_event_store::lookups::streams;
use zekka_event_store::personal_data::{PersonalData, PersonalDataError};
use zekka_platform::metrics::METRICS;
use zekka_platform::problem::ErrorChain;
use zekka_platform::shutdown::Shutdown;

use crate::projection::{Projection, ProjectionError};
use zekka_event_store::wakeup::Wakeup;

/// What one [`Projector::run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied this many events and advanced the checkpoint.
    Applied(usize),
    /// Nothing new to apply.
    Idle,
    /// Another worker holds this projection's lease right now, or released
    /// it a moment ago and moved the checkpoint this batch started from.
    Busy,
}

/// Why a batch failed. The batch's transaction rolled back: nothing of it
/// was applied, and the next attempt starts from the same checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// No database connection could be had.
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement of the engine failed.
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    /// The projection could not apply an event (a poison event, until it is
    /// fixed: nothing after it is applied, nothing is skipped).
    #[error("cannot apply event at {position} ({event_type}): {source}")]
    Apply {
        /// Where the event stands.
        position: Position,
        /// Its type.
        event_type: String,
        /// Why.
        source: ProjectionError,
    },
    /// The projection's batch write failed; the engine applies the batch
    /// again one event at a time to name the event.
    #[error("the batch could not be applied: {0}")]
    Batch(ProjectionError),
    /// Personal data in the batch could not be opened.
    #[error("cannot open personal data: {0}")]
    PersonalData(#[from] PersonalDataError),
    /// The checkpoint changed under this worker, which must not happen while
    /// it holds the lease; the batch was discarded.
    #[error("the checkpoint moved during the batch")]
    CheckpointMoved,
    /// The operators' skips of this projection could not be read.
    #[error("cannot read the skipped events: {source}")]
    Skips {
        /// Why.
        source: zekka_event_store::StoreError,
    },
}

/// The schema a projection's rebuild writes into.
pub fn shadow_schema(name: &str) -> String {
    format!("zekka_rebuild_{name}")
}

/// The checkpoint name of a projection's rebuild.
pub fn shadow_checkpoint(name: &str) -> String {
    format!("{name}@rebuild")
}

/// How long the skipped positions read from the event store are trusted
/// before they are read again (a failing batch reads them at once).
const SKIPS_FRESH: Duration = Duration::from_secs(2);

/// The events operators decided this projection passes over
/// (`ProjectionEventSkipped` in the `Projection` stream of its name), as
/// last read.
#[derive(Default)]
struct Skips {
    positions: Arc<BTreeSet<i64>>,
    read_at: Option<Instant>,
}

/// The events skipped in projection `name` by operators, by global
/// position: its `Projection` stream's state.
///
/// # Errors
/// When the database fails or a stored event is not a projection event.
pub async fn skipped_events(
    client: &impl tokio_postgres::GenericClient,
    name: &str,
) -> Result<std::collections::BTreeMap<i64, zekka_domain::projection::Skip>, ProjectorError> {
    let events = streams::events_of::<zekka_domain::projection::Projection>(client, name)
        .await
        .map_err(|source| ProjectorError::Skips { source })?;
    let mut state = zekka_domain::projection::Projection::default();
    for event in events {
        cqrs_es::Aggregate::apply(&mut state, event);
    }
    Ok(state.skipped)
}

/// Drives one projection: reads batches after its checkpoint and applies them.
#[derive(Clone)]
pub struct Projector {
    projection: Arc<dyn Projection>,
    pool: ReadPool,
    personal: Arc<PersonalData>,
    batch_size: i64,
    /// The checkpoint row: the projection's name, or its rebuild's.
    checkpoint: String,
    /// The schema written into ahead of `public` (a rebuild's shadow).
    schema: Option<String>,
    /// The events it passes over (shared by its clones, the shadow's own).
    skips: Arc<Mutex<Skips>>,
}

/// A stable advisory-lock key per checkpoint name (FNV-1a), so two workers of
/// one projection exclude each other and different projections never do.
pub fn lease_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "zekka.projection:".bytes().chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// How a batch is applied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// All of it through [`Projection::apply_batch`].
    Batch,
    /// One event at a time, keeping the events before one that fails.
    OneByOne,
}

impl Projector {
    /// A projector for `projection`, applying up to `batch_size` events per
    /// transaction, with personal data opened by `personal` (projections see
    /// plaintext, or `[erased]`).
    pub fn new(
        projection: Arc<dyn Projection>,
        pool: ReadPool,
        personal: Arc<PersonalData>,
        batch_size: i64,
    ) -> Self {
        let checkpoint = projection.name().to_owned();
        Self {
            projection,
            pool,
            personal,
            batch_size: batch_size.max(1),
            checkpoint,
            schema: None,
            skips: Arc::default(),
        }
    }

    /// The same projection writing into its rebuild's shadow schema, with
    /// the rebuild's checkpoint.
    pub fn shadow(&self) -> Self {
        Self {
            checkpoint: shadow_checkpoint(self.name()),
            schema: Some(shadow_schema(self.name())),
            skips: Arc::default(),
            ..self.clone()
        }
    }

    /// Driving `projection` instead (a rebuild's variant of the same read model).
    pub fn with_projection(mut self, projection: Arc<dyn Projection>) -> Self {
        self.projection = projection;
        self
    }

    /// With another batch size (rebuilds read larger batches).
    pub fn with_batch_size(mut self, batch_size: i64) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The projection's name.
    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// The name of its checkpoint row.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The projection.
    pub fn projection(&self) -> &Arc<dyn Projection> {
        &self.projection
    }

    /// The pool it works on.
    pub fn pool(&self) -> &ReadPool {
        &self.pool
    }

    /// The positions of the events this projection passes over, read again
    /// from the event store when older than [`SKIPS_FRESH`].
    async fn skips(
        &self,
        client: &impl tokio_postgres::GenericClient,
    ) -> Result<Arc<BTreeSet<i64>>, ProjectorError> {
        if let Ok(skips) = self.skips.lock()
            && skips.read_at.is_some_and(|at| at.elapsed() < SKIPS_FRESH)
        {
            return Ok(skips.positions.clone());
        }
        let positions: Arc<BTreeSet<i64>> =
            Arc::new(skipped_events(client, self.name()).await?.into_keys().collect());
        if let Ok(mut skips) = self.skips.lock() {
            *skips = Skips {
                positions: positions.clone(),
                read_at: Some(Instant::now()),
            };
        }
        Ok(positions)
    }

    /// Forgets the skipped positions read, so the next batch reads them again.
    fn forget_skips(&self) {
        if let Ok(mut skips) = self.skips.lock() {
            skips.read_at = None;
        }
    }

    /// Makes sure the projection has a checkpoint row (at the start of the stream).
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn ensure_checkpoint(&self) -> Result<(), ProjectorError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[&self.checkpoint],
            )
            .await?;
        Ok(())
    }

    /// The position of the last event applied.
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn position(&self) -> Result<Position, ProjectorError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT transaction_id, global_position FROM projection_checkpoints WHERE name = $1",
                &[&self.checkpoint],
            )
            .await?;
        Ok(match row {
            Some(row) => Position::from_row(&row, 0)?,
            None => Position::START,
        })
    }

    /// Applies the next batch, if any, and advances the checkpoint with it.
    ///
    /// # Errors
    /// When the database fails or an event cannot be applied. A batch that
    /// fails is applied again one event at a time: the events before the
    /// failing one are kept, and the error names it.
    pub async fn run_once(&self) -> Result<Outcome, ProjectorError> {
        self.run_once_until(None).await
    }

    /// [`Projector::run_once`], applying nothing past `until`.
    ///
    /// # Errors
    /// As [`Projector::run_once`].
    pub async fn run_once_until(&self, until: Option<Position>) -> Result<Outcome, ProjectorError> {
        let span = tracing::info_span!(
            "projector_batch",
            projection = self.name(),
            checkpoint = %self.checkpoint,
            events = tracing::field::Empty
        );
        let started = Instant::now();
        let outcome = match self
            .apply_next(until, Mode::Batch, None)
            .instrument(span.clone())
            .await
        {
            Err(ProjectorError::Batch(error)) => {
                tracing::warn!(projection = self.name(), %error, "batch failed; applying it one event at a time");
                self.apply_next(until, Mode::OneByOne, None)
                    .instrument(span.clone())
                    .await
            }
            other => other,
        };
        // The lease statement's snapshot can predate the lease: taken just
        // before the previous holder committed, it reads the checkpoint that
        // holder then moved, and the guarded advance refuses the batch. It
        // was rolled back, so this worker only lost the race: not a failure.
        let outcome = match outcome {
            Err(ProjectorError::CheckpointMoved) => Ok(Outcome::Busy),
            other => other,
        };
        if let Ok(Outcome::Applied(n)) = &outcome {
            span.record("events", n);
            METRICS
                .projection_batch_duration
                .with_label_values(&[self.name()])
                .observe(started.elapsed().as_secs_f64());
        }
        outcome
    }

    async fn apply_next(
        &self,
        until: Option<Position>,
        mode: Mode,
        prefetched: Option<(Position, Vec<StoredEvent>)>,
    ) -> Result<Outcome, ProjectorError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The lease: one worker per checkpoint at a time, released at commit
        // or rollback. Taking it assigns no transaction id, so this batch does
        // not hold back the snapshot horizon it reads below.
        // With the checkpoint in the same round trip. The statement's
        // snapshot may predate the lease, so the checkpoint read can be one
        // a previous holder has just moved: the guarded `advance` then
        // refuses this batch, which is rolled back and tried again.
        //
        // And an asynchronous commit (`synchronous_commit` off for this
        // transaction only): a batch is derived data, committed with the
        // checkpoint that says how far it got. A PostgreSQL crash can lose
        // the last batches committed (at most three `wal_writer_delay`s),
        // but each whole and with its checkpoint, so they are applied again
        // from the events: nothing lost, nothing twice. No batch waits for a
        // WAL flush of its own, then, and the commands' appends, which must,
        // share their flushes with fewer waiters.
        let statement = tx
            .prepare_cached(
                "SELECT pg_try_advisory_xact_lock($1), c.transaction_id, c.global_position,
                        set_config('synchronous_commit', 'off', true)
                   FROM (VALUES (1)) AS one (n)
                   LEFT JOIN projection_checkpoints c ON c.name = $2",
            )
            .await?;
        let row = tx
            .query_one(&statement, &[&lease_key(&self.checkpoint), &self.checkpoint])
            .await?;
        let leased: bool = row.try_get(0)?;
        if !leased {
            return Ok(Outcome::Busy);
        }
        if let Some(schema) = &self.schema {
            // Unqualified table names resolve to the shadow first.
            tx.batch_execute(&format!("SET LOCAL search_path TO {schema}, public"))
                .await?;
        }
        let Some(transaction_id) = row.try_get::<_, Option<Xid8>>(1)? else {
            drop(tx);
            self.ensure_checkpoint().await?;
            return Ok(Outcome::Idle);
        };
        let from = Position {
            transaction_id,
            global_position: row.try_get(2)?,
        };
        let types = self.projection.aggregate_types();
        let events = match prefetched {
            // Read ahead by `drain_prefetching`: only valid right after `from`.
            Some((after, events)) if after == from => events,
            Some(_) => return Err(ProjectorError::CheckpointMoved),
            None => {
                let mut events = event_log::read_between(&tx, from, until, self.batch_size, types).await?;
                self.personal.open_events(&tx, &mut events).await?;
                events
            }
        };
        if events.is_empty() {
            return Ok(Outcome::Idle);
        }
        let skips = self.skips(&*tx).await?;
        let passed_over = events
            .iter()
            .filter(|e| skips.contains(&e.position.global_position))
            .count();
        if passed_over > 0 {
            tracing::warn!(
                projection = self.name(),
                events = passed_over,
                "passing over events skipped by an operator"
            );
            METRICS
                .projection_events_skipped
                .with_label_values(&[self.name()])
                .inc_by(u64::try_from(passed_over).unwrap_or(0));
        }
        let applied = match mode {
            Mode::Batch => {
                let relevant: Vec<&StoredEvent> = events
                    .iter()
                    .filter(|e| {
                        types.contains(&e.aggregate_type.as_str())
                            && !skips.contains(&e.position.global_position)
                    })
                    .collect();
                self.projection
                    .apply_batch(&tx, &relevant)
                    .await
                    .map_err(ProjectorError::Batch)?;
                events.len()
            }
            Mode::OneByOne => match self.apply_each(&tx, &events, types, &skips).await? {
                Ok(()) => events.len(),
                Err((0, error)) => return Err(error),
                Err((kept, error)) => {
                    // Keep what came before the failing event.
                    self.advance(&tx, from, events[kept - 1].position, kept).await?;
                    tx.commit().await?;
                    return Err(error);
                }
            },
        };
        let last = events[applied - 1].position;
        self.advance(&tx, from, last, applied).await?;
        tx.commit().await?;
        METRICS
            .projection_events_applied
            .with_label_values(&[self.name()])
            .inc_by(u64::try_from(applied).unwrap_or(0));
        if self.schema.is_none() {
            METRICS
                .projection_position
                .with_label_values(&[self.name()])
                .set(last.global_position);
        }
        Ok(Outcome::Applied(applied))
    }

    /// Applies `events` one at a time, each under a savepoint; on a failure,
    /// how many events came before it and the error naming it.
    async fn apply_each(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        events: &[StoredEvent],
        types: &[&str],
        skips: &BTreeSet<i64>,
    ) -> Result<Result<(), (usize, ProjectorError)>, ProjectorError> {
        for (n, event) in events.iter().enumerate() {
            if !types.contains(&event.aggregate_type.as_str())
                || skips.contains(&event.position.global_position)
            {
                continue;
            }
            tx.batch_execute("SAVEPOINT one_event").await?;
            if let Err(source) = self.projection.apply(tx, event).await {
                tx.batch_execute("ROLLBACK TO SAVEPOINT one_event").await?;
                return Ok(Err((
                    n,
                    ProjectorError::Apply {
                        position: event.position,
                        event_type: event.event_type.clone(),
                        source,
                    },
                )));
            }
            tx.batch_execute("RELEASE SAVEPOINT one_event").await?;
        }
        Ok(Ok(()))
    }

    /// Moves the checkpoint from `from` to `to`, guarded by `from`.
    async fn advance(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        from: Position,
        to: Position,
        count: usize,
    ) -> Result<(), ProjectorError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        // The live model also tells the real-time hub, in the same
        // statement; the notification is delivered at commit, so the hub
        // pushes only what is projected.
        let channel = if self.schema.is_none() {
            zekka_event_store::wakeup::PROJECTED_CHANNEL
        } else {
            ""
        };
        let statement = tx
            .prepare_cached(
                "WITH advanced AS (
                     UPDATE projection_checkpoints
                        SET transaction_id = $2, global_position = $3,
                            events_applied = events_applied + $4, updated_at = now()
                      WHERE name = $1 AND (transaction_id, global_position) = ($5, $6)
                     RETURNING 1
                 )
                 SELECT count(*), CASE WHEN $7 <> '' THEN pg_notify($7, $1) END FROM advanced",
            )
            .await?;
        let advanced: i64 = tx
            .query_one(
                &statement,
                &[
                    &self.checkpoint,
                    &to.transaction_id,
                    &to.global_position,
                    &count,
                    &from.transaction_id,
                    &from.global_position,
                    &channel,
                ],
            )
            .await?
            .try_get(0)?;
        if advanced != 1 {
            return Err(ProjectorError::CheckpointMoved);
        }
        Ok(())
    }

    /// Applies batches until nothing is left (tests and rebuilds use it).
    ///
    /// # Errors
    /// The first batch that fails.
    pub async fn drain(&self) -> Result<usize, ProjectorError> {
        self.drain_until(None).await
    }

    /// Applies batches up to `until` (everything when `None`).
    ///
    /// # Errors
    /// The first batch that fails.
    pub async fn drain_until(&self, until: Option<Position>) -> Result<usize, ProjectorError> {
        let mut total = 0;
        loop {
            match self.run_once_until(until).await? {
                Outcome::Applied(n) => total += n,
                Outcome::Idle => return Ok(total),
                Outcome::Busy => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Applies everything there is, like [`Projector::drain`], with the next
    /// batch read (and its personal data opened) on another connection
    /// while the current one is written: reading and writing overlap, which
    /// is what a rebuild is bound by. Calls `on_batch` with each batch's size.
    ///
    /// # Errors
    /// The first batch that fails.
    pub async fn drain_prefetching(&self, mut on_batch: impl FnMut(usize)) -> Result<usize, ProjectorError> {
        let start = self.position().await?;
        let (sender, mut receiver) =
            tokio::sync::mpsc::channel::<Result<(Position, Vec<StoredEvent>), ProjectorError>>(2);
        let reader = {
            let this = self.clone();
            tokio::spawn(async move {
                let types = this.projection.aggregate_types();
                let mut after = start;
                loop {
                    let batch = async {
                        let client = this.pool.get().await?;
                        let mut events =
                            event_log::read_between(&client, after, None, this.batch_size, types).await?;
                        this.personal.open_events(&client, &mut events).await?;
                        Ok::<_, ProjectorError>(events)
                    }
                    .await;
                    match batch {
                        Ok(events) => {
                            let Some(next) = events.last().map(|e| e.position) else {
                                break;
                            };
                            if sender.send(Ok((after, events))).await.is_err() {
                                break;
                            }
                            after = next;
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error)).await;
                            break;
                        }
                    }
                }
            })
        };
        let mut total = 0;
        let mut outcome = Ok(());
        while let Some(batch) = receiver.recv().await {
            let applied = match batch {
                Ok(batch) => self.apply_next(None, Mode::Batch, Some(batch)).await,
                Err(error) => Err(error),
            };
            match applied {
                Ok(Outcome::Applied(n)) => {
                    total += n;
                    on_batch(n);
                }
                Ok(Outcome::Idle) => {}
                Ok(Outcome::Busy) => {
                    outcome = Err(ProjectorError::CheckpointMoved);
                    break;
                }
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
        }
        reader.abort();
        match outcome {
            Ok(()) => Ok(total),
            // Name the event that fails, one at a time.
            Err(ProjectorError::Batch(_)) => Ok(total + self.drain().await?),
            Err(error) => Err(error),
        }
    }

    /// Empties the read model and its checkpoint, so it is built again from
    /// the first event.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn reset(&self) -> Result<(), ProjectorError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.query_one(
            "SELECT pg_advisory_xact_lock($1)",
            &[&lease_key(&self.checkpoint)],
        )
        .await?;
        if let Some(schema) = &self.schema {
            tx.batch_execute(&format!("SET LOCAL search_path TO {schema}, public"))
                .await?;
        }
        self.projection
            .reset(&tx)
            .await
            .map_err(|source| ProjectorError::Apply {
                position: Position::START,
                event_type: "reset".into(),
                source,
            })?;
        tx.execute(
            "UPDATE projection_checkpoints
                SET transaction_id = '0', global_position = 0, events_applied = 0, updated_at = now()
              WHERE name = $1",
            &[&self.checkpoint],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refreshes the lag gauges: committed events not applied yet, and how
    /// long the oldest of them has waited.
    async fn record_lag(&self) {
        let lag = async {
            let position = self.position().await?;
            let client = self.pool.get().await?;
            let events = event_log::count_after(&client, position).await?;
            let seconds = event_log::seconds_behind(&client, position).await?;
            Ok::<_, ProjectorError>((events, seconds))
        }
        .await;
        match lag {
            Ok((events, seconds)) => {
                METRICS
                    .projection_lag_events
                    .with_label_values(&[self.name()])
                    .set(events);
                METRICS
                    .projection_lag_seconds
                    .with_label_values(&[self.name()])
                    .set(seconds);
            }
            Err(error) => tracing::debug!(projection = self.name(), %error, "could not measure lag"),
        }
    }

    /// Records that the projection fails (`Some`) or runs again (`None`),
    /// for `GET /api/v1/projections`.
    async fn record_health(&self, failure: Option<&ProjectorError>) {
        let recorded = async {
            let client = self.pool.get().await?;
            match failure {
                Some(error) => {
                    let (position, event_type) = match error {
                        ProjectorError::Apply {
                            position, event_type, ..
                        } => (Some(position.global_position), Some(event_type.as_str())),
                        _ => (None, None),
                    };
                    let message = ErrorChain(error).to_string();
                    client
                        .execute(
                            "UPDATE projection_checkpoints
                                SET status = 'failed', error = $2, error_position = $3, error_event_type = $4,
                                    failing_since = coalesce(failing_since, now())
                              WHERE name = $1",
                            &[&self.checkpoint, &message, &position, &event_type],
                        )
                        .await?;
                }
                None => {
                    client
                        .execute(
                            "UPDATE projection_checkpoints
                                SET status = 'running', error = NULL, error_position = NULL,
                                    error_event_type = NULL, failing_since = NULL
                              WHERE name = $1",
                            &[&self.checkpoint],
                        )
                        .await?;
                }
            }
            Ok::<_, ProjectorError>(())
        }
        .await;
        if let Err(error) = recorded {
            tracing::debug!(projection = self.name(), %error, "could not record the projection's health");
        }
    }

    /// Runs until `shutdown`: applies batches while there are any, then
    /// sleeps until a `NOTIFY` or the poll interval (and, under load,
    /// `coalesce` more, to gather the next batch). A failure stops this
    /// projection only: it is logged, recorded in its status (with the
    /// event, for a poison event) and retried with back-off up to 30 s, so
    /// it resumes by itself once the cause is fixed, skipping nothing.
    pub async fn run(
        self,
        mut wakeup: Wakeup,
        poll_interval: Duration,
        coalesce: Duration,
        mut shutdown: Shutdown,
    ) {
        let mut backoff = Duration::from_millis(100);
        let mut lag_measured = Instant::now() - Duration::from_secs(60);
        let mut failing = false;
        let mut last_woken = Instant::now() - Duration::from_secs(60);
        tracing::info!(projection = self.name(), "projector started");
        while !shutdown.is_triggered() {
            let result = self.run_once().await;
            if failing && result.is_ok() {
                failing = false;
                METRICS
                    .projection_failing
                    .with_label_values(&[self.name()])
                    .set(0);
                tracing::info!(projection = self.name(), "projection recovered");
                self.record_health(None).await;
            }
            let pause = match result {
                Ok(Outcome::Applied(applied)) => {
                    backoff = Duration::from_millis(100);
                    if lag_measured.elapsed() > Duration::from_secs(1) {
                        self.record_lag().await;
                        lag_measured = Instant::now();
                    }
                    if i64::try_from(applied).unwrap_or(i64::MAX) >= self.batch_size {
                        continue;
                    }
                    // A short batch reached the end of what is committed:
                    // wait for the next commit instead of asking again.
                    poll_interval
                }
                Ok(Outcome::Idle | Outcome::Busy) => {
                    backoff = Duration::from_millis(100);
                    if lag_measured.elapsed() > Duration::from_secs(5) {
                        self.record_lag().await;
                        lag_measured = Instant::now();
                    }
                    poll_interval
                }
                Err(error) => {
                    // An operator may have skipped the event meanwhile.
                    self.forget_skips();
                    METRICS.projection_errors.with_label_values(&[self.name()]).inc();
                    METRICS
                        .projection_failing
                        .with_label_values(&[self.name()])
                        .set(1);
                    tracing::error!(projection = self.name(), error = %ErrorChain(&error), "projection batch failed; retrying");
                    failing = true;
                    self.record_health(Some(&error)).await;
                    self.record_lag().await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    backoff
                }
            };
            if failing {
                // Back off for real: new events do not hurry a retry.
                tokio::select! {
                    () = shutdown.wait() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            } else {
                let woken = tokio::select! {
                    () = shutdown.wait() => break,
                    () = wakeup.notified() => true,
                    () = tokio::time::sleep(pause) => false,
                };
                if woken && !coalesce.is_zero() && last_woken.elapsed() < coalesce * 4 {
                    // Under load (woken a moment ago), let the commits of the
                    // next few milliseconds join the next batch: one
                    // transaction for many events instead of one each, at
                    // the price of `coalesce` of lag. An idle projector
                    // answers the first commit at once.
                    tokio::time::sleep(coalesce).await;
                }
                if woken {
                    last_woken = Instant::now();
                }
            }
        }
        tracing::info!(projection = self.name(), "projector stopped");
    }
}
