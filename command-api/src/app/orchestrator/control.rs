//! What people do to a run: start, pause, resume, cancel; and the run as
//! the routes show it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_domain::execution::ExecutionCommand;
use zekka_domain::project::ProjectCommand;
use zekka_event_store::consistency::{self, ConsistencyToken};

use crate::app::access;
use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::state::CommandState;

/// The read models a run's view is made of.
const VIEW_MODELS: [&str; 2] = ["executions", "agents"];

/// How long a direction's answer waits for the view to show it.
const VIEW_WAIT: Duration = Duration::from_secs(2);

/// A run as `GET /projects/{id}/execution` shows it.
#[derive(Debug, Clone)]
pub struct ExecutionView {
    /// The run.
    pub execution_id: Uuid,
    /// running, paused, completed or cancelled.
    pub status: String,
    /// Its current stage.
    pub stage: String,
    /// Tasks waiting to be claimed.
    pub open: i64,
    /// Tasks claimed under a live lease.
    pub claimed: i64,
    /// Tasks done.
    pub done: i64,
    /// Tasks failed.
    pub failed: i64,
    /// What it has cost (USD).
    pub cost_usd: Decimal,
    /// Why it waits (`[]` while running).
    pub pause_reasons: serde_json::Value,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A direction to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Pause it.
    Pause,
    /// Resume it (failed tasks are handed out again).
    Resume,
    /// Stop it for good.
    Cancel,
}

/// Starts a run of `project_id` at its current stage; its id.
///
/// # Errors
/// 404 for a stranger, 403 below admin, 409 while another runs or the
/// project is archived.
pub async fn start(
    state: &CommandState,
    project_id: Uuid,
    actor: Uuid,
    max_parallel_tasks: u32,
    context: &CommandContext,
) -> Result<(Uuid, ConsistencyToken), AppError> {
    let execution_id = Uuid::now_v7();
    let command = ProjectCommand::StartExecution {
        actor,
        execution_id,
        max_parallel_tasks,
    };
    let executed = dispatch::run(
        &state.projects,
        &project_id.to_string(),
        command,
        "StartExecution",
        context,
    )
    .await
    .map_err(AppError::from)?;
    let project = executed.state;
    // The orchestrator would start it from the project's event; starting it
    // here too saves a round, and the second start is refused as done.
    let start = ExecutionCommand::Start {
        execution_id,
        project_id,
        stage: project
            .stage
            .unwrap_or(zekka_domain::project::Stage::Requirements),
        started_by: actor,
        max_parallel_tasks,
    };
    let token = match dispatch::run(
        &state.executions,
        &execution_id.to_string(),
        start,
        "StartExecution",
        context,
    )
    .await
    {
        Ok(started) => {
            dispatch::token(&state.executions, &execution_id.to_string(), started.appended).await?
        }
        Err(_) => dispatch::token(&state.projects, &project_id.to_string(), executed.appended).await?,
    };
    Ok((execution_id, token))
}

/// Gives the running execution of `project_id` a direction; its id.
///
/// # Errors
/// 404 when none is running or the actor is a stranger; the run's refusal.
pub async fn direct(
    state: &CommandState,
    project_id: Uuid,
    actor: Uuid,
    direction: Direction,
    context: &CommandContext,
) -> Result<(Uuid, ConsistencyToken), AppError> {
    let access = access::project_access(state, project_id, actor).await?;
    if access.role.is_none() {
        return Err(AppError::not_found("project not found"));
    }
    let project = dispatch::load(&state.projects, project_id).await?;
    let none_running = || AppError::not_found("no execution of this project is running");
    let execution_id = project.running_execution.ok_or_else(none_running)?;
    // Ended, and the orchestrator has not yet told the project: none runs.
    let run = dispatch::load(&state.executions, execution_id).await?;
    if run.status.is_finished() {
        return Err(none_running());
    }
    let (command, name) = match direction {
        Direction::Pause => (ExecutionCommand::Pause { actor, access }, "PauseExecution"),
        Direction::Resume => (ExecutionCommand::Resume { actor, access }, "ResumeExecution"),
        Direction::Cancel => (ExecutionCommand::Cancel { actor, access }, "CancelExecution"),
    };
    let token = dispatch::execute(
        &state.executions,
        &execution_id.to_string(),
        command,
        name,
        context,
    )
    .await?;
    Ok((execution_id, token))
}

/// The latest run of `project_id` as the read models show it, after they
/// have caught up with `token` (or waited for it as long as an answer may).
///
/// # Errors
/// When the database fails.
pub async fn view(
    state: &CommandState,
    project_id: Uuid,
    token: Option<ConsistencyToken>,
) -> Result<Option<ExecutionView>, AppError> {
    if let Some(token) = token
        && let Err(error) =
            consistency::poll_until_applied(&state.reads, &VIEW_MODELS, token, VIEW_WAIT).await
    {
        tracing::debug!(%error, "answering with the run as the read models show it now");
    }
    let client = state.lookup_connection().await?;
    let row = client
        .query_opt(
            "SELECT e.execution_id, e.status, e.stage, e.cost_usd, e.pause_reasons, e.started_at, e.finished_at,
                    count(t.task_id) FILTER (WHERE t.outcome = 'open' AND (t.lease_until IS NULL OR t.lease_until < now())),
                    count(t.task_id) FILTER (WHERE t.outcome = 'open' AND t.lease_until >= now()),
                    count(t.task_id) FILTER (WHERE t.outcome = 'succeeded'),
                    count(t.task_id) FILTER (WHERE t.outcome = 'failed'),
                    coalesce((SELECT sum(u.cost_usd) FROM rm_tasks r JOIN rm_task_usage u USING (task_id)
                               WHERE r.execution_id = e.execution_id), 0)
               FROM rm_executions e LEFT JOIN rm_tasks t ON t.execution_id = e.execution_id
              WHERE e.project_id = $1
              GROUP BY e.execution_id
              ORDER BY e.started_at DESC, e.execution_id DESC LIMIT 1",
            &[&project_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let recorded: Decimal = row.try_get(3)?;
    let live: Decimal = row.try_get(11)?;
    Ok(Some(ExecutionView {
        execution_id: row.try_get(0)?,
        status: row.try_get(1)?,
        stage: row.try_get(2)?,
        cost_usd: recorded.max(live),
        pause_reasons: row.try_get(4)?,
        started_at: row.try_get(5)?,
        finished_at: row.try_get(6)?,
        open: row.try_get(7)?,
        claimed: row.try_get(8)?,
        done: row.try_get(9)?,
        failed: row.try_get(10)?,
    }))
}
