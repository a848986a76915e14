//! Rebuilding a projection on demand, without downtime.
//!
//! The projection is built from the first event into a shadow schema
//! (`zekka_rebuild_<name>`, same tables, its own checkpoint) while the live
//! tables keep serving. Once it has caught up, the live projection's lease
//! is taken (its workers pause), both are brought to the same position, the
//! shadow is compared with the live tables (row counts and a content hash
//! per table, with sample rows where they differ — a rebuild that changes
//! results is a finding), and the shadow tables are swapped in atomically;
//! the old ones are dropped. A rebuild that fails or is interrupted leaves
//! the live tables untouched and resumes from its own checkpoint when run
//! again. One rebuild per projection runs at a time (a session advisory
//! lock held by the process running it, released if that process dies).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio_postgres::GenericClient;
use zekka_event_store::database::ReadPool;
use zekka_event_store::event_log::{self, Position};

mod progress;
mod shadow;

use progress::{heartbeat, progress_of, record_progress};
use shadow::{build_deferred_indexes, compare, finish_shadow, prepare_shadow, swap};

use crate::engine::{Projector, ProjectorError, lease_key, shadow_checkpoint, shadow_schema};

/// Events per transaction while rebuilding.
pub const REBUILD_BATCH: i64 = 10_000;

/// Sample rows listed per table when the rebuilt rows differ.
const SAMPLES: i64 = 10;

/// Why a rebuild stopped.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Another process is rebuilding this projection.
    #[error("a rebuild of {0} is already running")]
    AlreadyRunning(String),
    /// The projection engine failed (an event, or the database).
    #[error(transparent)]
    Projector(#[from] ProjectorError),
}

impl From<tokio_postgres::Error> for RebuildError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Projector(ProjectorError::Database(error))
    }
}

impl From<deadpool_postgres::PoolError> for RebuildError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Projector(ProjectorError::Pool(error))
    }
}

/// How far a rebuild is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Events read into the shadow so far.
    pub done: i64,
    /// Events to read in all (grows while writes go on).
    pub total: i64,
}

/// A table whose rebuilt rows differ from the live ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The table.
    pub table: String,
    /// Rows in the live table.
    pub live_rows: i64,
    /// Rows in the rebuilt table.
    pub rebuilt_rows: i64,
    /// Some rows only the live table has.
    pub only_live: Vec<String>,
    /// Some rows only the rebuilt table has.
    pub only_rebuilt: Vec<String>,
}

/// What a finished rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    /// The projection.
    pub name: String,
    /// Events read.
    pub events: i64,
    /// Wall time.
    pub seconds: f64,
    /// Tables whose rows changed (empty: the rebuild confirms the live model).
    pub differences: Vec<Difference>,
    /// Events it passed over because operators skipped them.
    pub skipped: Vec<SkippedEvent>,
}

/// An event a rebuild passed over because an operator skipped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedEvent {
    /// Its global position.
    pub position: i64,
    /// Its type, why and by whom it is skipped.
    #[serde(flatten)]
    pub skip: zekka_domain::projection::Skip,
}

/// Rebuilds `live`'s projection, calling `on_progress` as it goes.
///
/// # Errors
/// [`RebuildError::AlreadyRunning`], or the failure that stopped it (the
/// live model is untouched then, and a new run resumes).
pub async fn rebuild(
    live: &Projector,
    mut on_progress: impl FnMut(Progress),
) -> Result<RebuildReport, RebuildError> {
    let name = live.name();
    let started = Instant::now();
    let pool = live.pool();
    // The rebuild lease lives on a connection of its own, taken out of the
    // pool so that dropping it (or this process dying) releases the lock.
    let lease = deadpool_postgres::Object::take(pool.get().await?);
    let locked: bool = lease
        .query_one(
            "SELECT pg_try_advisory_lock($1)",
            &[&lease_key(&format!("{name}#rebuild"))],
        )
        .await?
        .try_get(0)?;
    if !locked {
        return Err(RebuildError::AlreadyRunning(name.to_owned()));
    }
    lease
        .execute(
            "INSERT INTO projection_rebuilds (name, status, started_at, updated_at)
             VALUES ($1, 'running', now(), now())
             ON CONFLICT (name) DO UPDATE
                SET status = 'running', started_at = now(), updated_at = now(), finished_at = NULL,
                    error = NULL, differences = NULL, skipped = NULL",
            &[&name],
        )
        .await?;
    let outcome = run(live, &*lease, &mut on_progress).await;
    let recorded = match &outcome {
        Ok(report) => {
            lease
                .execute(
                    "UPDATE projection_rebuilds
                        SET status = 'completed', finished_at = now(), updated_at = now(),
                            done = $2, total = $2, differences = $3, skipped = $4
                      WHERE name = $1",
                    &[
                        &name,
                        &report.events,
                        &json!(report.differences),
                        &(!report.skipped.is_empty()).then(|| json!(report.skipped)),
                    ],
                )
                .await
        }
        Err(error) => {
            let message = error.to_string();
            lease
                .execute(
                    "UPDATE projection_rebuilds SET status = 'failed', error = $2, updated_at = now()
                      WHERE name = $1",
                    &[&name, &message],
                )
                .await
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(projection = name, %error, "could not record the rebuild's outcome");
    }
    let mut report = outcome?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn run(
    live: &Projector,
    lease: &impl GenericClient,
    on_progress: &mut impl FnMut(Progress),
) -> Result<RebuildReport, RebuildError> {
    let name = live.name();
    let mut shadow = live.shadow().with_batch_size(REBUILD_BATCH);
    if let Some(variant) = live.projection().for_rebuild() {
        shadow = shadow.with_projection(variant);
    }
    prepare_shadow(live).await?;

    // Catch up with the head while the live model keeps serving.
    let phase = Instant::now();
    let mut progress = progress_of(&shadow).await?;
    on_progress(progress);
    // The heartbeat: progress written for `GET /projections` every second,
    // which also tells a live rebuild from an interrupted one.
    let done = Arc::new(AtomicI64::new(progress.done));
    let total = Arc::new(AtomicI64::new(progress.total));
    let heartbeat = tokio::spawn(heartbeat(live.pool().clone(), name, done.clone(), total.clone()));
    let caught_up = shadow
        .drain_prefetching(|n| {
            progress.done += i64::try_from(n).unwrap_or(0);
            progress.total = progress.total.max(progress.done);
            done.store(progress.done, Ordering::Relaxed);
            total.store(progress.total, Ordering::Relaxed);
            on_progress(progress);
        })
        .await;
    heartbeat.abort();
    caught_up?;
    tracing::info!(
        projection = name,
        seconds = phase.elapsed().as_secs_f64(),
        events = progress.done,
        "caught up"
    );
    record_progress(lease, name, progress).await?;
    let phase = Instant::now();
    build_deferred_indexes(live).await?;
    tracing::info!(
        projection = name,
        seconds = phase.elapsed().as_secs_f64(),
        "secondary indexes built"
    );

    // Meet the live model at one position, compare, swap.
    loop {
        shadow.drain().await?;
        let mut client = live.pool().get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lease_key(name)])
            .await?;
        let at = checkpoint(&*tx, name).await?;
        let rebuilt = checkpoint(&*tx, &shadow_checkpoint(name)).await?;
        if rebuilt > at {
            // The live model lags: let it catch up to the shadow first.
            drop(tx);
            live.drain_until(Some(rebuilt)).await?;
            continue;
        }
        if rebuilt < at {
            shadow.drain_until(Some(at)).await?;
        }
        if checkpoint(&*tx, &shadow_checkpoint(name)).await? != at {
            drop(tx);
            continue;
        }
        let phase = Instant::now();
        finish_shadow(&shadow).await?;
        tracing::info!(
            projection = name,
            seconds = phase.elapsed().as_secs_f64(),
            "rebuilt tables completed"
        );
        let phase = Instant::now();
        let differences = compare(&*tx, live).await?;
        tracing::info!(
            projection = name,
            seconds = phase.elapsed().as_secs_f64(),
            "compared with the live model"
        );
        for difference in &differences {
            tracing::warn!(
                projection = name,
                table = difference.table,
                live_rows = difference.live_rows,
                rebuilt_rows = difference.rebuilt_rows,
                "the rebuilt rows differ from the live ones (a finding: the rebuild from the events wins)"
            );
        }
        let skipped: Vec<SkippedEvent> = skipped_through(&*tx, name, at).await?;
        for event in &skipped {
            tracing::warn!(
                projection = name,
                position = event.position,
                event_type = event.skip.event_type,
                reason = event.skip.reason,
                "the rebuild passed over an event an operator skipped"
            );
        }
        swap(&tx, live).await?;
        tx.commit().await?;
        let events = progress_of(live).await?.done;
        on_progress(Progress {
            done: events,
            total: events,
        });
        return Ok(RebuildReport {
            name: name.to_owned(),
            events,
            seconds: 0.0,
            differences,
            skipped,
        });
    }
}

/// The events skipped in projection `name` up to `through`: those the
/// rebuild passed over.
async fn skipped_through(
    client: &impl GenericClient,
    name: &str,
    through: Position,
) -> Result<Vec<SkippedEvent>, RebuildError> {
    let skipped = crate::engine::skipped_events(client, name)
        .await
        .map_err(RebuildError::Projector)?;
    Ok(skipped
        .into_iter()
        .filter(|(position, _)| *position <= through.global_position)
        .map(|(position, skip)| SkippedEvent { position, skip })
        .collect())
}

async fn checkpoint(client: &impl GenericClient, name: &str) -> Result<Position, RebuildError> {
    let row = client
        .query_opt(
            "SELECT transaction_id, global_position FROM projection_checkpoints WHERE name = $1",
            &[&name],
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
