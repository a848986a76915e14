//! `agents`: each agent's status and task counts (`rm_agents`) and every
//! task (`rm_tasks`): the ones people assign (on the agent's stream) and the
//! orchestrator's (Task streams, with their run, model and lease).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::agent::{AgentEvent, AgentStatus, TaskOutcome};
use zekka_domain::task::TaskEvent;
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
        &["Agent", "Task"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type == "Task" {
            return apply_task(tx, event).await;
        }
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
                close_task(tx, agent_id, task_id, outcome, at).await?;
            }
            // `rm_agents.model` stays the agent's own; each task carries the
            // model it runs on, and the switch is in the agent's activity.
            AgentEvent::ModelSwitched { .. } => {}
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

/// Closes a task and counts it for its agent.
async fn close_task(
    tx: &Transaction<'_>,
    agent_id: uuid::Uuid,
    task_id: uuid::Uuid,
    outcome: TaskOutcome,
    at: &chrono::DateTime<chrono::Utc>,
) -> Result<(), ProjectionError> {
    let close = tx
        .prepare_cached(
            "UPDATE rm_tasks SET outcome = $2, completed_at = $3, lease_until = NULL WHERE task_id = $1",
        )
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
    Ok(())
}

/// An orchestrated task's event, into `rm_tasks` (and its agent's counts).
async fn apply_task(tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
    let task_id = uuid_of(&event.aggregate_id)?;
    let at = &event.recorded_at;
    match super::decode::<TaskEvent>(event)? {
        TaskEvent::TaskOpened {
            execution_id,
            project_id,
            agent_id,
            stage,
            model,
            ..
        } => {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO rm_tasks (task_id, agent_id, project_id, title, description, stage, outcome,
                                           assigned_at, execution_id, model)
                     VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9)
                     ON CONFLICT (task_id) DO NOTHING",
                )
                .await?;
            let title = format!("The {stage} stage");
            let description = format!("Do this agent's part of the project's {stage} stage.");
            tx.execute(
                &insert,
                &[
                    &task_id,
                    &agent_id,
                    &project_id,
                    &title,
                    &description,
                    &stage.as_str(),
                    at,
                    &execution_id,
                    &model,
                ],
            )
            .await?;
        }
        TaskEvent::TaskClaimed {
            agent_id,
            lease_until,
            attempt,
        } => {
            let claim = tx
                .prepare_cached("UPDATE rm_tasks SET lease_until = $2, claims = $3 WHERE task_id = $1")
                .await?;
            tx.execute(
                &claim,
                &[
                    &task_id,
                    &lease_until,
                    &i32::try_from(attempt).unwrap_or(i32::MAX),
                ],
            )
            .await?;
            let current = tx
                .prepare_cached(
                    "UPDATE rm_agents SET current_task_id = $2, updated_at = $3 WHERE agent_id = $1",
                )
                .await?;
            tx.execute(&current, &[&agent_id, &task_id, at]).await?;
        }
        TaskEvent::TaskLeaseExtended { lease_until } => {
            let extend = tx
                .prepare_cached("UPDATE rm_tasks SET lease_until = $2 WHERE task_id = $1")
                .await?;
            tx.execute(&extend, &[&task_id, &lease_until]).await?;
        }
        TaskEvent::TaskLeaseLapsed { lapses, .. } => {
            let lapse = tx
                .prepare_cached("UPDATE rm_tasks SET lease_until = NULL, lapses = $2 WHERE task_id = $1")
                .await?;
            tx.execute(&lapse, &[&task_id, &i32::try_from(lapses).unwrap_or(i32::MAX)])
                .await?;
        }
        TaskEvent::TaskFinished { outcome, .. } => {
            let agent = tx
                .prepare_cached("SELECT agent_id FROM rm_tasks WHERE task_id = $1")
                .await?;
            if let Some(row) = tx.query_opt(&agent, &[&task_id]).await? {
                close_task(tx, row.try_get(0)?, task_id, outcome, at).await?;
            }
        }
        TaskEvent::TaskReopened {} => {
            let reopen = tx
                .prepare_cached(
                    "UPDATE rm_tasks SET outcome = 'open', completed_at = NULL, lapses = 0 WHERE task_id = $1",
                )
                .await?;
            tx.execute(&reopen, &[&task_id]).await?;
        }
        TaskEvent::TaskCancelled {} => {
            let cancel = tx
                .prepare_cached(
                    "UPDATE rm_tasks SET outcome = 'cancelled', completed_at = $2, lease_until = NULL
                      WHERE task_id = $1",
                )
                .await?;
            tx.execute(&cancel, &[&task_id, at]).await?;
        }
    }
    Ok(())
}
