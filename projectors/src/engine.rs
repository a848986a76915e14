//! [`Projector`]: drives one projection through the event stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use zekka_platform::database::ReadPool;
use zekka_platform::event_log::{self, Position};
use zekka_platform::metrics::METRICS;
use zekka_platform::personal_data::{PersonalData, PersonalDataError};
use zekka_platform::problem::ErrorChain;
use zekka_platform::shutdown::Shutdown;

use crate::projection::{Projection, ProjectionError};
use crate::wakeup::Wakeup;

/// What one [`Projector::run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied this many events and advanced the checkpoint.
    Applied(usize),
    /// Nothing new to apply.
    Idle,
    /// Another worker holds this projection's lease right now.
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
    /// The projection could not apply an event.
    #[error("cannot apply event at {position} ({event_type}): {source}")]
    Apply {
        /// Where the event stands.
        position: Position,
        /// Its type.
        event_type: String,
        /// Why.
        source: ProjectionError,
    },
    /// Personal data in the batch could not be opened.
    #[error("cannot open personal data: {0}")]
    PersonalData(#[from] PersonalDataError),
    /// The checkpoint changed under this worker, which must not happen while
    /// it holds the lease; the batch was discarded.
    #[error("the checkpoint moved during the batch")]
    CheckpointMoved,
}

/// Drives one projection: reads batches after its checkpoint and applies them.
#[derive(Clone)]
pub struct Projector {
    projection: Arc<dyn Projection>,
    pool: ReadPool,
    personal: Arc<PersonalData>,
    batch_size: i64,
}

/// A stable advisory-lock key per projection name (FNV-1a), so two workers of
/// one projection exclude each other and different projections never do.
fn lease_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "zekka.projection:".bytes().chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
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
        Self {
            projection,
            pool,
            personal,
            batch_size: batch_size.max(1),
        }
    }

    /// The projection's name.
    pub fn name(&self) -> &'static str {
        self.projection.name()
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
                &[&self.name()],
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
                &[&self.name()],
            )
            .await?;
        Ok(match row {
            Some(row) => Position {
                transaction_id: row.try_get(0)?,
                global_position: row.try_get(1)?,
            },
            None => Position::START,
        })
    }

    /// Applies the next batch, if any, and advances the checkpoint with it.
    ///
    /// # Errors
    /// When the database fails or an event cannot be applied; nothing of the
    /// batch is kept then.
    pub async fn run_once(&self) -> Result<Outcome, ProjectorError> {
        let span = tracing::info_span!(
            "projector_batch",
            projection = self.name(),
            events = tracing::field::Empty
        );
        let started = Instant::now();
        let outcome = self.apply_batch().instrument(span.clone()).await;
        if let Ok(Outcome::Applied(n)) = &outcome {
            span.record("events", n);
            METRICS
                .projection_batch_duration
                .with_label_values(&[self.name()])
                .observe(started.elapsed().as_secs_f64());
        }
        outcome
    }

    async fn apply_batch(&self) -> Result<Outcome, ProjectorError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The lease: one worker per projection at a time, released at commit
        // or rollback. Taking it assigns no transaction id, so this batch does
        // not hold back the snapshot horizon it reads below.
        let leased: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&lease_key(self.name())])
            .await?
            .try_get(0)?;
        if !leased {
            return Ok(Outcome::Busy);
        }
        let row = tx
            .query_opt(
                "SELECT transaction_id, global_position FROM projection_checkpoints WHERE name = $1",
                &[&self.name()],
            )
            .await?;
        let Some(row) = row else {
            drop(tx);
            self.ensure_checkpoint().await?;
            return Ok(Outcome::Idle);
        };
        let from = Position {
            transaction_id: row.try_get(0)?,
            global_position: row.try_get(1)?,
        };
        let types = self.projection.aggregate_types();
        let mut events = event_log::read_after(&*tx, from, self.batch_size, types).await?;
        self.personal.open_events(&*tx, &mut events).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(Outcome::Idle);
        };
        for event in events
            .iter()
            .filter(|e| types.contains(&e.aggregate_type.as_str()))
        {
            self.projection
                .apply(&tx, event)
                .await
                .map_err(|source| ProjectorError::Apply {
                    position: event.position,
                    event_type: event.event_type.clone(),
                    source,
                })?;
        }
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let advanced = tx
            .execute(
                "UPDATE projection_checkpoints
                    SET transaction_id = $2, global_position = $3,
                        events_applied = events_applied + $4, updated_at = now()
                  WHERE name = $1 AND (transaction_id, global_position) = ($5, $6)",
                &[
                    &self.name(),
                    &last.transaction_id,
                    &last.global_position,
                    &count,
                    &from.transaction_id,
                    &from.global_position,
                ],
            )
            .await?;
        if advanced != 1 {
            return Err(ProjectorError::CheckpointMoved);
        }
        tx.commit().await?;
        METRICS
            .projection_events_applied
            .with_label_values(&[self.name()])
            .inc_by(u64::try_from(events.len()).unwrap_or(0));
        METRICS
            .projection_position
            .with_label_values(&[self.name()])
            .set(last.global_position);
        Ok(Outcome::Applied(events.len()))
    }

    /// Applies batches until nothing is left (tests and rebuilds use it).
    ///
    /// # Errors
    /// The first batch that fails.
    pub async fn drain(&self) -> Result<usize, ProjectorError> {
        let mut total = 0;
        loop {
            match self.run_once().await? {
                Outcome::Applied(n) => total += n,
                Outcome::Idle => return Ok(total),
                Outcome::Busy => tokio::time::sleep(Duration::from_millis(10)).await,
            }
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
        tx.query_one("SELECT pg_advisory_xact_lock($1)", &[&lease_key(self.name())])
            .await?;
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
            &[&self.name()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refreshes the lag gauge: committed events not applied yet.
    async fn record_lag(&self) {
        let lag = async {
            let position = self.position().await?;
            let client = self.pool.get().await?;
            Ok::<_, ProjectorError>(event_log::count_after(&**client, position).await?)
        }
        .await;
        match lag {
            Ok(lag) => METRICS
                .projection_lag_events
                .with_label_values(&[self.name()])
                .set(lag),
            Err(error) => tracing::debug!(projection = self.name(), %error, "could not measure lag"),
        }
    }

    /// Runs until `shutdown`: applies batches while there are any, then
    /// sleeps until a `NOTIFY` or the poll interval. Failures are logged and
    /// retried with back-off; the current batch always finishes before the
    /// loop stops.
    pub async fn run(self, mut wakeup: Wakeup, poll_interval: Duration, mut shutdown: Shutdown) {
        let mut backoff = Duration::from_millis(100);
        let mut lag_measured = Instant::now() - Duration::from_secs(60);
        tracing::info!(projection = self.name(), "projector started");
        while !shutdown.is_triggered() {
            let pause = match self.run_once().await {
                Ok(Outcome::Applied(_)) => {
                    backoff = Duration::from_millis(100);
                    if lag_measured.elapsed() > Duration::from_secs(1) {
                        self.record_lag().await;
                        lag_measured = Instant::now();
                    }
                    continue;
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
                    METRICS.projection_errors.with_label_values(&[self.name()]).inc();
                    tracing::error!(projection = self.name(), error = %ErrorChain(&error), "projection batch failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    backoff
                }
            };
            tokio::select! {
                () = shutdown.wait() => break,
                () = wakeup.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(projection = self.name(), "projector stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::lease_key;

    #[test]
    fn lease_keys_are_stable_and_distinct_per_projection() {
        assert_eq!(lease_key("projects"), lease_key("projects"));
        assert_ne!(lease_key("projects"), lease_key("users"));
    }
}
