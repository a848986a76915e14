//! One batch: read the events after the checkpoint, apply them (one by one
//! when the batch fails, to name the event that does), advance the checkpoint.

use super::*;

impl Projector {
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

    pub(super) async fn apply_next(
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
                let relevant = relevant(&events, types, &skips);
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
    pub(super) async fn apply_each(
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
    pub(super) async fn advance(
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
}

/// The events of `events` a projection of `types` applies: its own
/// aggregate types, less those operators skipped.
pub(super) fn relevant<'e>(
    events: &'e [StoredEvent],
    types: &[&str],
    skips: &BTreeSet<i64>,
) -> Vec<&'e StoredEvent> {
    events
        .iter()
        .filter(|e| {
            types.contains(&e.aggregate_type.as_str()) && !skips.contains(&e.position.global_position)
        })
        .collect()
}
