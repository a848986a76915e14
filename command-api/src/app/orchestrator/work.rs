//! Work for agent processes: the next task of an agent, claimed under a
//! lease (waiting for one when there is none yet), its heartbeats, and its
//! finish.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_domain::ErrorKind;
use zekka_domain::agent::TaskOutcome;
use zekka_domain::project::Stage;
use zekka_domain::shared::access::ProjectAccess;
use zekka_domain::shared::text::Detail;
use zekka_domain::task::{Task, TaskCommand};
use zekka_event_store::consistency::ConsistencyToken;
use zekka_event_store::lookups::owners;

use super::leases;
use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::state::CommandState;

/// A task handed to an agent process.
#[derive(Debug, Clone)]
pub struct Work {
    /// The task.
    pub task_id: Uuid,
    /// Its stage.
    pub stage: Stage,
    /// The model to run it on.
    pub model: String,
    /// When the lease ends unless a heartbeat extends it.
    pub lease_until: DateTime<Utc>,
    /// What remains of the project's budget (`None`: no budget).
    pub budget_remaining_usd: Option<Decimal>,
}

impl Work {
    /// What to do, for the agent.
    pub fn title(&self) -> String {
        format!("The {} stage", self.stage)
    }

    /// More about it.
    pub fn description(&self) -> String {
        format!("Do this agent's part of the project's {} stage.", self.stage)
    }
}

/// Candidates looked at per attempt (a lost race tries the next).
const CANDIDATES: i64 = 8;

/// How often a waiting poll looks again without a wake-up (a lease that
/// ends wakes nobody).
const RECHECK: Duration = Duration::from_millis(500);

/// The least time between two looks of one waiting poll: under load the
/// projectors' notifications come many times a second, and a waiting agent
/// must not turn each into a query.
const MIN_RECHECK: Duration = Duration::from_millis(100);

/// Claims `agent_id`'s next task, waiting up to `wait` for one.
///
/// # Errors
/// When the database fails.
pub async fn wait_for_work(
    state: &CommandState,
    agent_id: Uuid,
    context: &CommandContext,
    wait: Duration,
) -> Result<Option<Work>, AppError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut projected = state.projected.clone();
    loop {
        projected.mark_seen();
        if let Some(work) = claim_next(state, agent_id, context).await? {
            return Ok(Some(work));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let pause = (deadline - now).min(RECHECK);
        tokio::select! {
            () = projected.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
        tokio::time::sleep(MIN_RECHECK.min(deadline.saturating_duration_since(tokio::time::Instant::now())))
            .await;
    }
}

/// Claims `agent_id`'s oldest open task of a running execution, if any.
///
/// # Errors
/// When the database fails.
pub async fn claim_next(
    state: &CommandState,
    agent_id: Uuid,
    context: &CommandContext,
) -> Result<Option<Work>, AppError> {
    let client = state.lookup_connection().await?;
    let candidates = client
        .query(
            "SELECT t.task_id FROM rm_tasks t JOIN rm_executions e USING (execution_id)
              WHERE t.agent_id = $1 AND t.execution_id IS NOT NULL AND t.outcome = 'open'
                AND (t.lease_until IS NULL OR t.lease_until < now())
                AND e.status = 'running'
                AND (SELECT count(*) FROM rm_tasks c
                      WHERE c.execution_id = t.execution_id AND c.outcome = 'open'
                        AND c.lease_until >= now()) < e.max_parallel_tasks
              ORDER BY t.assigned_at, t.task_id LIMIT $2",
            &[&agent_id, &CANDIDATES],
        )
        .await?;
    drop(client);
    for row in &candidates {
        let task_id: Uuid = row.try_get(0)?;
        let now = leases::now();
        let lease_until = leases::lease_from(state, now);
        let command = TaskCommand::Claim {
            agent_id,
            now,
            lease_until,
        };
        match dispatch::run(&state.tasks, &task_id.to_string(), command, "ClaimTask", context).await {
            Ok(executed)
                if executed.state.held_by(agent_id, now)
                    && executed.state.lease_until == Some(lease_until) =>
            {
                return Ok(Some(work(state, task_id, &executed.state, lease_until).await?));
            }
            // Lapsed for the last time and failed, or taken: the next one.
            Ok(_) | Err(AggregateError::UserError(_)) => {}
            Err(error) => return Err(AppError::from(error)),
        }
    }
    Ok(None)
}

async fn work(
    state: &CommandState,
    task_id: Uuid,
    task: &Task,
    lease_until: DateTime<Utc>,
) -> Result<Work, AppError> {
    let project_id = task
        .project_id
        .ok_or_else(|| AppError::Internal("a task without a project".into()))?;
    let project = dispatch::load(&state.projects, project_id).await?;
    Ok(Work {
        task_id,
        stage: task.stage.unwrap_or(Stage::Requirements),
        model: task.model.clone(),
        lease_until,
        budget_remaining_usd: project
            .budget_usd
            .map(|budget| (budget - project.spent_usd).max(Decimal::ZERO)),
    })
}

/// Extends `agent_id`'s lease on `task_id`; when the lease ends now.
///
/// # Errors
/// 409 when the lease was lost (lapsed, or the task ended); 404 when the
/// task is not this agent's.
pub async fn heartbeat(
    state: &CommandState,
    agent_id: Uuid,
    task_id: Uuid,
    context: &CommandContext,
) -> Result<(DateTime<Utc>, ConsistencyToken), AppError> {
    let now = leases::now();
    let lease_until = leases::lease_from(state, now);
    let command = TaskCommand::Heartbeat {
        agent_id,
        now,
        lease_until,
    };
    match dispatch::execute(&state.tasks, &task_id.to_string(), command, "Heartbeat", context).await {
        Ok(token) => Ok((lease_until, token)),
        Err(AppError::Refused {
            kind: ErrorKind::NotFound,
            ..
        }) if assigned_by_hand(state, agent_id, task_id).await? => Err(AppError::conflict(
            "this task was assigned by hand and holds no lease; heartbeats keep tasks claimed from GET /agents/{id}/work",
        )),
        Err(error) => Err(error),
    }
}

/// Whether `task_id` is a task a person assigned to `agent_id` by hand.
async fn assigned_by_hand(state: &CommandState, agent_id: Uuid, task_id: Uuid) -> Result<bool, AppError> {
    let client = state.lookup_connection().await?;
    Ok(owners::task_agent(&client, task_id).await? == Some(agent_id))
}

/// Whether `task_id` is one of the orchestrator's tasks (a Task stream),
/// rather than one a person assigned on the agent's stream.
///
/// # Errors
/// When the database fails.
pub async fn is_orchestrated(state: &CommandState, task_id: Uuid) -> Result<bool, AppError> {
    let task = dispatch::load(&state.tasks, task_id).await?;
    Ok(task.id.is_some())
}

/// `agent_id` reports how its orchestrated task ended.
///
/// # Errors
/// The task's refusal (ended already, not this agent's, a viewer).
pub async fn finish(
    state: &CommandState,
    agent_id: Uuid,
    task_id: Uuid,
    (outcome, detail): (TaskOutcome, Detail),
    access: ProjectAccess,
    context: &CommandContext,
) -> Result<ConsistencyToken, AppError> {
    let command = TaskCommand::Finish {
        agent_id,
        outcome,
        detail,
        access,
    };
    dispatch::execute(&state.tasks, &task_id.to_string(), command, "FinishTask", context).await
}
