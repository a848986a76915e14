//! Verifying the audit trail as a job: on a large store a verification
//! takes minutes, more than a request may, so `POST /audit/verifications`
//! queues one, a worker runs it (one at a time per process, claimed with
//! `SKIP LOCKED`, picked up again by any process when its runner stopped
//! reporting progress for a minute), and its progress and report are kept
//! in `audit_verifications`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;
use zekka_event_store::event_log::{self, Position};
use zekka_event_store::integrity;
use zekka_platform::shutdown::Shutdown;
use zekka_platform::signing_keys;

use crate::app::error::AppError;
use crate::app::state::CommandState;

/// A verification as its requester sees it.
#[derive(Debug, Clone)]
pub struct VerificationView {
    /// The job.
    pub id: Uuid,
    /// `queued`, `running`, `done` or `failed` (the job, not the store).
    pub status: String,
    /// Events checked so far.
    pub events_checked: i64,
    /// Events in the store when it started.
    pub events_total: Option<i64>,
    /// The report once done (`intact`, `first_failure`, …).
    pub report: Option<Value>,
    /// Why the job failed, if it did.
    pub error: Option<String>,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A row of `audit_verifications`, as [`view`] reads it.
type VerificationRow = (
    String,
    i64,
    Option<i64>,
    Option<Value>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// Queues a verification asked for by `requested_by`.
///
/// # Errors
/// When the database fails.
pub async fn request(state: &CommandState, requested_by: Uuid) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO audit_verifications (verification_id, requested_by) VALUES ($1, $2)")
        .bind(id)
        .bind(requested_by)
        .execute(&state.pool)
        .await?;
    Ok(id)
}

/// The verification `id`, if there is one.
///
/// # Errors
/// When the database fails.
pub async fn view(state: &CommandState, id: Uuid) -> Result<Option<VerificationView>, AppError> {
    let row: Option<VerificationRow> = sqlx::query_as(
        "SELECT status, events_checked, events_total, report, error, requested_at, finished_at
           FROM audit_verifications WHERE verification_id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    Ok(row.map(
        |(status, events_checked, events_total, report, error, requested_at, finished_at)| VerificationView {
            id,
            status,
            events_checked,
            events_total,
            report,
            error,
            requested_at,
            finished_at,
        },
    ))
}

/// How often the worker looks for a queued verification.
const POLL: Duration = Duration::from_secs(1);

/// Runs queued verifications until `shutdown`.
pub async fn run(state: Arc<CommandState>, mut shutdown: Shutdown) {
    loop {
        match claim(&state).await {
            Ok(Some(id)) => {
                let outcome = tokio::select! {
                    () = shutdown.wait() => return,
                    outcome = verify(&state, id) => outcome,
                };
                if let Err(error) = outcome {
                    tracing::warn!(%id, %error, "an audit verification failed");
                    let _ = sqlx::query(
                        "UPDATE audit_verifications SET status = 'failed', error = $2, finished_at = now(),
                                updated_at = now() WHERE verification_id = $1",
                    )
                    .bind(id)
                    .bind(error.to_string())
                    .execute(&state.pool)
                    .await;
                }
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot look for queued audit verifications"),
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Takes the oldest queued verification (or one whose runner stopped).
async fn claim(state: &CommandState) -> Result<Option<Uuid>, AppError> {
    let id: Option<(Uuid,)> = sqlx::query_as(
        "UPDATE audit_verifications SET status = 'running', started_at = now(), updated_at = now(),
                events_checked = 0
          WHERE verification_id = (
                SELECT verification_id FROM audit_verifications
                 WHERE status = 'queued'
                    OR (status = 'running' AND updated_at < now() - interval '1 minute')
                 ORDER BY requested_at
                 LIMIT 1
                   FOR UPDATE SKIP LOCKED)
      RETURNING verification_id",
    )
    .fetch_optional(&state.pool)
    .await?;
    Ok(id.map(|(id,)| id))
}

/// Runs verification `id`, storing its progress after every batch and its report at the end.
async fn verify(state: &CommandState, id: Uuid) -> Result<(), AppError> {
    let verifier = signing_keys::load_verifier(&state.config, &state.pool)
        .await
        .map_err(|e| AppError::internal(e.as_ref()))?;
    let client = state.lookup_connection().await?;
    let total = event_log::count_after(&client, Position::START).await?;
    sqlx::query("UPDATE audit_verifications SET events_total = $2 WHERE verification_id = $1")
        .bind(id)
        .bind(total)
        .execute(&state.pool)
        .await?;
    let pool = state.pool.clone();
    let report = integrity::verify_with_progress(&**client, &verifier, &[], |checked| {
        let pool = pool.clone();
        async move {
            let stored = sqlx::query(
                "UPDATE audit_verifications SET events_checked = $2, updated_at = now() WHERE verification_id = $1",
            )
            .bind(id)
            .bind(checked)
            .execute(&pool)
            .await;
            if let Err(error) = stored {
                tracing::debug!(%error, "verification progress not stored");
            }
        }
    })
    .await
    .map_err(|e| AppError::internal(&e))?;
    sqlx::query(
        "UPDATE audit_verifications SET status = 'done', report = $2, events_checked = $3,
                finished_at = now(), updated_at = now() WHERE verification_id = $1",
    )
    .bind(id)
    .bind(serde_json::to_value(&report).map_err(|e| AppError::internal(&e))?)
    .bind(report.events_checked)
    .execute(&state.pool)
    .await?;
    tracing::info!(%id, intact = report.intact, events = report.events_checked, "audit verification done");
    Ok(())
}
