//! `executions`: each run of a project through its stages (`rm_executions`):
//! status, stage, why it waits, what it cost. Its tasks are `rm_tasks`
//! rows with its `execution_id` (the `agents` projection).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::execution::{ExecutionEvent, ExecutionStatus};
use zekka_event_store::event_log::StoredEvent;

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `executions` read model.
pub struct ExecutionsProjection;

#[async_trait]
impl Projection for ExecutionsProjection {
    fn name(&self) -> &'static str {
        "executions"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_executions"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Execution"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        let id = uuid_of(&event.aggregate_id)?;
        let at = &event.recorded_at;
        match super::decode::<ExecutionEvent>(event)? {
            ExecutionEvent::ExecutionStarted {
                project_id,
                stage,
                started_by,
                max_parallel_tasks,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_executions (execution_id, project_id, status, stage, started_by,
                                                    max_parallel_tasks, started_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (execution_id) DO NOTHING",
                    )
                    .await?;
                let parallel = i32::try_from(max_parallel_tasks).unwrap_or(i32::MAX);
                tx.execute(
                    &insert,
                    &[
                        &id,
                        &project_id,
                        &ExecutionStatus::Running.as_str(),
                        &stage.as_str(),
                        &started_by,
                        &parallel,
                        at,
                    ],
                )
                .await?;
            }
            ExecutionEvent::StageOpened { stage, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_executions SET stage = $2, updated_at = $3 WHERE execution_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&id, &stage.as_str(), at]).await?;
            }
            ExecutionEvent::TaskSettled { run_cost_usd, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_executions SET cost_usd = $2, updated_at = $3 WHERE execution_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&id, &run_cost_usd, at]).await?;
            }
            ExecutionEvent::StageCompleted { .. } => {}
            ExecutionEvent::ExecutionPaused { reason } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_executions
                            SET status = 'paused', pause_reasons = pause_reasons || jsonb_build_array($2::jsonb),
                                updated_at = $3
                          WHERE execution_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&id, &serde_json::to_value(reason)?, at])
                    .await?;
            }
            ExecutionEvent::PauseLifted { reasons, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_executions e
                            SET pause_reasons = kept.reasons,
                                status = CASE WHEN jsonb_array_length(kept.reasons) = 0 THEN 'running' ELSE 'paused' END,
                                updated_at = $3
                           FROM (SELECT coalesce(jsonb_agg(r), '[]'::jsonb) AS reasons
                                   FROM rm_executions, jsonb_array_elements(pause_reasons) r
                                  WHERE execution_id = $1 AND NOT ($2::jsonb @> jsonb_build_array(r))) kept
                          WHERE e.execution_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&id, &serde_json::to_value(reasons)?, at])
                    .await?;
            }
            ExecutionEvent::ExecutionCancelled { .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_executions SET status = 'cancelled', finished_at = $2, updated_at = $2
                          WHERE execution_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&id, at]).await?;
            }
            ExecutionEvent::ExecutionCompleted { cost_usd } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_executions
                            SET status = 'completed', cost_usd = $2, finished_at = $3, updated_at = $3,
                                pause_reasons = '[]'
                          WHERE execution_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&id, &cost_usd, at]).await?;
            }
        }
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_executions").await?;
        Ok(())
    }
}
