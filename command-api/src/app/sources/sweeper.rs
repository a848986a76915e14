//! Removes the bytes no source names any more: a blob of a project with no
//! live source of that digest, older than a grace period. Each removal
//! holds the blob ([`super::blob_hold`]) and checks the read model once it
//! has caught up with every event written, so an upload of the same bytes
//! that is under way keeps them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use zekka_event_store::database::ReadPool;
use zekka_platform::blobs::Blobs;
use zekka_platform::metrics::METRICS;
use zekka_platform::shutdown::Shutdown;

use super::{blob_hold, caught_up};
use crate::app::error::AppError;

/// How old an unnamed blob must be before it goes: uploads write their
/// bytes a moment before their event, and a source deleted by mistake can
/// be uploaded again within the hour without sending the bytes twice.
pub const GRACE: chrono::Duration = chrono::Duration::hours(1);

/// How often the sweeper runs.
const EVERY: Duration = Duration::from_secs(3600);

/// The rule name of its metric (`retention_removed_total{rule}`).
const RULE: &str = "source_blobs";

/// What a sweep found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobSweep {
    /// Blobs kept in the store.
    pub blobs: u64,
    /// Blobs removed (or that would be, on a dry run).
    pub removed: u64,
}

fn store_failed(error: &zekka_platform::blobs::BlobError) -> AppError {
    AppError::unavailable(format!("the source store failed: {error}"), 60)
}

/// Whether a live source of `project` names `sha256`.
async fn named(reads: &ReadPool, project: uuid::Uuid, sha256: &str) -> Result<bool, AppError> {
    let client = reads.get().await?;
    let statement = client
        .prepare_cached("SELECT 1 FROM rm_sources WHERE project_id = $1 AND sha256 = $2 LIMIT 1")
        .await?;
    Ok(client
        .query_opt(&statement, &[&project, &sha256])
        .await?
        .is_some())
}

/// Removes, as of `now`, every blob older than [`GRACE`] that no source
/// names; with `dry_run`, only counts them.
///
/// # Errors
/// When the store or the database fails.
pub async fn sweep(
    reads: &ReadPool,
    blobs: &Blobs,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<BlobSweep, AppError> {
    let entries = blobs.list().await.map_err(|e| store_failed(&e))?;
    let mut report = BlobSweep {
        blobs: entries.len() as u64,
        removed: 0,
    };
    for entry in entries.into_iter().filter(|e| e.written_at + GRACE < now) {
        let removed = blob_hold::holding(reads, entry.project_id, &entry.sha256, || async {
            caught_up(reads).await?;
            if named(reads, entry.project_id, &entry.sha256).await? {
                return Ok(false);
            }
            if !dry_run {
                blobs
                    .remove(entry.project_id, &entry.sha256)
                    .await
                    .map_err(|e| store_failed(&e))?;
            }
            Ok(true)
        })
        .await?;
        if removed {
            report.removed += 1;
        }
    }
    if !dry_run {
        METRICS
            .retention_removed
            .with_label_values(&[RULE])
            .inc_by(report.removed);
    }
    Ok(report)
}

/// Sweeps once an hour until `shutdown`.
pub async fn run(reads: ReadPool, blobs: Blobs, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            () = tokio::time::sleep(EVERY) => {}
        }
        match sweep(&reads, &blobs, Utc::now(), false).await {
            Ok(report) if report.removed > 0 => {
                tracing::info!(removed = report.removed, "sources: unnamed blobs removed");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "source blob sweep failed; retrying in an hour"),
        }
    }
}
