//! `conflicts`: the conflict queue (`rm_conflicts`).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::conflict::ConflictEvent;
use zekka_event_store::event_log::StoredEvent;

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `conflicts` read model.
pub struct ConflictsProjection;

#[async_trait]
impl Projection for ConflictsProjection {
    fn name(&self) -> &'static str {
        "conflicts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_conflicts"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Conflict"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        let conflict_id = uuid_of(&event.aggregate_id)?;
        let at = &event.recorded_at;
        match super::decode::<ConflictEvent>(event)? {
            ConflictEvent::ConflictReported {
                project_id,
                kind,
                description,
                agent_ids,
                file_path,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_conflicts
                            (conflict_id, project_id, kind, description, agent_ids, file_path, status, reported_at)
                         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &conflict_id,
                        &project_id,
                        &kind.as_str(),
                        &description,
                        &agent_ids,
                        &file_path,
                        at,
                    ],
                )
                .await?;
            }
            ConflictEvent::ConflictResolved {
                strategy,
                resolution,
                resolved_by_model,
                ..
            } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_conflicts SET status = 'resolved', strategy = $2, resolution = $3,
                                resolved_by_model = $4, resolved_at = $5
                          WHERE conflict_id = $1",
                    )
                    .await?;
                tx.execute(
                    &update,
                    &[
                        &conflict_id,
                        &strategy.as_str(),
                        &resolution,
                        &resolved_by_model,
                        at,
                    ],
                )
                .await?;
            }
            ConflictEvent::ConflictEscalated { reason, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_conflicts SET status = 'escalated', escalation_reason = $2, escalated_at = $3
                          WHERE conflict_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&conflict_id, &reason, at]).await?;
            }
            // Attempts are the audit record; their cost is usage (`usage`).
            ConflictEvent::ArbitrationAttempted { .. } => {}
        }
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_conflicts").await?;
        Ok(())
    }
}
