//! `agents`: each agent's status and task counts (`rm_agents`) and every
//! task (`rm_tasks`).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::agent::{AgentEvent, AgentStatus, TaskOutcome};
use zekka_event_store::event_log::StoredEvent;

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `agents` read model.
pub struct AgentsProjection;

#[async_trait]
impl Projection for AgentsProjection {
    fn name(&self) -> &'static str {
        "agents"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_agents", "rm_tasks"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Agent"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        let agent_id = uuid_of(&event.aggregate_id)?;
        let at = &event.recorded_at;
        match super::decode::<AgentEvent>(event)? {
            AgentEvent::AgentRegistered {
                project_id,
                name,
                kind,
                stage,
                model,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_agents
                            (agent_id, project_id, name, kind, stage, model, status, created_at, updated_at,
                             status_since)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8)",
                    )
                    .await?;
                let stage = stage.map(|s| s.as_str());
                tx.execute(
                    &insert,
                    &[
                        &agent_id,
                        &project_id,
                        &name,
                        &kind,
                        &stage,
                        &model,
                        &AgentStatus::Idle.as_str(),
                        at,
                    ],
                )
                .await?;
            }
            AgentEvent::AgentStatusChanged { to, detail, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_agents
                            SET working_seconds = working_seconds + CASE WHEN status = 'working'
                                    THEN greatest(extract(epoch FROM $4 - coalesce(status_since, $4)), 0)::float8
                                    ELSE 0 END,
                                status = $2, status_detail = $3, updated_at = $4, status_since = $4
                          WHERE agent_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&agent_id, &to.as_str(), &detail, at])
                    .await?;
            }
            AgentEvent::TaskAssigned {
                task_id,
                title,
                description,
                stage,
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_tasks (task_id, agent_id, project_id, title, description, stage, outcome, assigned_at)
                         SELECT $1, $2, project_id, $3, $4, $5, 'open', $6 FROM rm_agents WHERE agent_id = $2",
                    )
                    .await?;
                let stage = stage.map(|s| s.as_str());
                tx.execute(&insert, &[&task_id, &agent_id, &title, &description, &stage, at])
                    .await?;
                let current = tx
                    .prepare_cached(
                        "UPDATE rm_agents SET current_task_id = $2, updated_at = $3 WHERE agent_id = $1",
                    )
                    .await?;
                tx.execute(&current, &[&agent_id, &task_id, at]).await?;
            }
            AgentEvent::TaskCompleted { task_id, outcome, .. } => {
                let close = tx
                    .prepare_cached("UPDATE rm_tasks SET outcome = $2, completed_at = $3 WHERE task_id = $1")
                    .await?;
                tx.execute(&close, &[&task_id, &outcome.as_str(), at]).await?;
                let (done, failed) = match outcome {
                    TaskOutcome::Succeeded => (1_i64, 0_i64),
                    TaskOutcome::Failed => (0, 1),
                };
                let count = tx
                    .prepare_cached(
                        "UPDATE rm_agents
                            SET tasks_done = tasks_done + $2, tasks_failed = tasks_failed + $3, updated_at = $4,
                                current_task_id = CASE WHEN current_task_id = $5 THEN NULL ELSE current_task_id END
                          WHERE agent_id = $1",
                    )
                    .await?;
                tx.execute(&count, &[&agent_id, &done, &failed, at, &task_id])
                    .await?;
            }
            // Locks live on the context bus; their events are the audit record.
            AgentEvent::FileLockAcquired { .. } | AgentEvent::FileLockReleased { .. } => {}
        }
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_agents, rm_tasks").await?;
        Ok(())
    }
}
