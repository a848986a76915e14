//! A rebuild's progress, as `GET /projections` and the CLI show it.

use super::*;

/// Events applied so far by `projector`, and that plus what is left.
pub(super) async fn progress_of(projector: &Projector) -> Result<Progress, RebuildError> {
    let client = projector.pool().get().await?;
    let position = projector.position().await?;
    let done: i64 = client
        .query_one(
            "SELECT coalesce((SELECT events_applied FROM projection_checkpoints WHERE name = $1), 0)",
            &[&projector.checkpoint()],
        )
        .await?
        .try_get(0)?;
    let left = event_log::count_after(&client, position).await?;
    Ok(Progress {
        done,
        total: done + left,
    })
}

/// Writes the progress every second until aborted.
pub(super) async fn heartbeat(
    pool: ReadPool,
    name: &'static str,
    done: Arc<AtomicI64>,
    total: Arc<AtomicI64>,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let progress = Progress {
            done: done.load(Ordering::Relaxed),
            total: total.load(Ordering::Relaxed),
        };
        let written = async {
            let client = pool.get().await?;
            record_progress(&**client, name, progress).await
        }
        .await;
        if let Err(error) = written {
            tracing::debug!(projection = name, %error, "could not record the rebuild's progress");
        }
    }
}

pub(super) async fn record_progress(
    lease: &impl GenericClient,
    name: &str,
    progress: Progress,
) -> Result<(), RebuildError> {
    lease
        .execute(
            "UPDATE projection_rebuilds SET done = $2, total = $3, updated_at = now() WHERE name = $1",
            &[&name, &progress.done, &progress.total],
        )
        .await?;
    Ok(())
}
