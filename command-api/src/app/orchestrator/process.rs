//! The orchestrator's process manager: it follows the event stream from a
//! checkpoint of its own and, for each event it reacts to, issues the next
//! commands of the run. Every command it issues is idempotent (deterministic
//! ids, "already so" decided as nothing to do), so reading an event again
//! after a crash repeats nothing; the checkpoint advances after the
//! reactions, in the order of the stream. Several processes take turns
//! through an advisory lock, as projectors do.

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::AggregateError;
use rust_decimal::Decimal;
use serde_json::Value;
use tracing::Instrument;
use uuid::Uuid;
use zekka_domain::agent::{AgentCommand, TaskOutcome};
use zekka_domain::execution::{ExecutionCommand, ExecutionStatus, PlannedTask, StagePhase};
use zekka_domain::project::{ProjectCommand, Stage};
use zekka_domain::task::TaskCommand;
use zekka_domain::{Decide, Refusal};
use zekka_event_store::consistency::{self, ConsistencyToken};
use zekka_event_store::event_log::{Position, StoredEvent};
use zekka_event_store::store::CommandBus;
use zekka_event_store::wakeup::Wakeup;
use zekka_platform::metrics::METRICS;
use zekka_platform::shutdown::Shutdown;

use super::{leases, plan};
use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::follower::{self, Follower, Payloads};
use crate::app::state::CommandState;

/// Its checkpoint's name, and the process named in its commands' metadata.
pub const NAME: &str = "orchestrator";

/// The aggregate types whose events it reacts to.
const TYPES: [&str; 4] = ["Project", "Execution", "Task", "Conflict"];

/// Events read per batch.
const BATCH: i64 = 500;

/// How long a settlement waits for the usage read model to include the
/// task's usage (the run's cost in `TaskSettled`).
const USAGE_WAIT: Duration = Duration::from_secs(2);

/// The read models a stage's plan reads, and how long it waits for them.
const PLAN_MODELS: [&str; 2] = ["agents", "usage"];
const PLAN_WAIT: Duration = Duration::from_secs(5);

/// The events it reacts to: only these carry their payloads.
const REACTS_TO: [&str; 10] = [
    "ProjectExecutionStarted",
    "ExecutionStarted",
    "StageOpened",
    "StageCompleted",
    "PauseLifted",
    "ExecutionCompleted",
    "ExecutionCancelled",
    "TaskFinished",
    "ConflictEscalated",
    "ConflictResolved",
];

/// Its place in the stream.
const FOLLOWER: Follower = Follower {
    name: NAME,
    payloads: Payloads::OfEvents(&REACTS_TO),
};

/// Reacts to the stream, and lapses ended leases, until `shutdown`.
pub async fn run(state: Arc<CommandState>, mut appended: Wakeup, mut shutdown: Shutdown) {
    let tick = (state.config.execution_lease / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        appended.mark_seen();
        loop {
            match run_once(&state).await {
                // A short batch reached the end of what is committed: the
                // next look would find nothing (a transaction for nothing).
                Ok(n) if i64::try_from(n).unwrap_or(i64::MAX) < BATCH => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the orchestrator could not react to an event; retrying");
                    break;
                }
            }
        }
        if let Err(error) = leases::lapse_ended(&state).await {
            tracing::warn!(%error, "the lease sweeper failed; retrying");
        }
        tokio::select! {
            () = shutdown.wait() => break,
            () = appended.notified() => tokio::time::sleep(follower::COALESCE).await,
            () = tokio::time::sleep(tick) => {}
        }
    }
}

/// Reacts to the next batch of events after the checkpoint and advances
/// it; the number of events passed (0: nothing new, or another process
/// holds the turn). A reaction that fails for good (a stream that does not
/// read, a bug) is logged and passed over, so it holds up no other run.
///
/// # Errors
/// When the database fails; the checkpoint then stands after the last
/// event reacted to, and the failing one is read again next time.
pub async fn run_once(state: &CommandState) -> Result<usize, AppError> {
    let mut client = state.reads.get().await?;
    let tx = client.transaction().await?;
    let Some((from, events)) = FOLLOWER.next_batch(&tx, BATCH).await? else {
        tx.commit().await?;
        return Ok(0);
    };
    let mut reached = from;
    let mut failure = None;
    for event in &events {
        if TYPES.contains(&event.aggregate_type.as_str()) && REACTS_TO.contains(&event.event_type.as_str()) {
            let span = tracing::info_span!(
                "orchestrator_reaction",
                event_type = %event.event_type,
                position = event.position.global_position
            );
            match react(state, event).instrument(span).await {
                Ok(()) => METRICS.follower_events.with_label_values(&[NAME, "ok"]).inc(),
                Err(error) if error.is_transient() => {
                    METRICS.follower_events.with_label_values(&[NAME, "error"]).inc();
                    failure = Some(error);
                    break;
                }
                Err(error) => {
                    // It would fail the same way every time: passing over it
                    // stalls at most the one run it is about, never every
                    // project's (an operator reads the log).
                    METRICS
                        .follower_events
                        .with_label_values(&[NAME, "skipped"])
                        .inc();
                    tracing::error!(
                        %error,
                        position = event.position.global_position,
                        event_type = %event.event_type,
                        aggregate_id = %event.aggregate_id,
                        "the orchestrator passed over an event it cannot react to"
                    );
                }
            }
        }
        reached = event.position;
    }
    FOLLOWER.advance(&tx, reached).await?;
    tx.commit().await?;
    match failure {
        Some(error) => Err(error),
        None => Ok(events.len()),
    }
}

/// The event's payload field `name`.
fn field<'a>(event: &'a StoredEvent, name: &str) -> Option<&'a Value> {
    event.payload.get(&event.event_type)?.get(name)
}

/// The event's payload field `name` as a UUID.
fn uuid_field(event: &StoredEvent, name: &str) -> Option<Uuid> {
    field(event, name)
        .and_then(Value::as_str)
        .and_then(|text| Uuid::parse_str(text).ok())
}

/// Issues `command`; a refusal is the aggregate saying there is nothing to
/// do (the command was issued before, or no longer applies), logged and
/// passed over. Only a failure to reach the store is an error.
async fn issue<A>(
    bus: &CommandBus<A>,
    id: Uuid,
    command: A::Command,
    name: &'static str,
    context: &CommandContext,
) -> Result<(), AppError>
where
    A: Decide + Clone,
    A::Command: Clone,
    A::Error: Refusal,
{
    match dispatch::run(bus, &id.to_string(), command, name, context).await {
        Ok(_) => Ok(()),
        Err(AggregateError::UserError(refusal)) => {
            tracing::debug!(command = name, %id, %refusal, "nothing to do");
            Ok(())
        }
        Err(error) => Err(AppError::from(error)),
    }
}

/// One event's reaction.
async fn react(state: &CommandState, event: &StoredEvent) -> Result<(), AppError> {
    let Ok(aggregate_id) = Uuid::parse_str(&event.aggregate_id) else {
        return Ok(());
    };
    let position = event.position.global_position;
    match (event.aggregate_type.as_str(), event.event_type.as_str()) {
        ("Project", "ProjectExecutionStarted") => {
            let (Some(execution_id), Some(started_by), Some(stage)) = (
                uuid_field(event, "execution_id"),
                uuid_field(event, "started_by"),
                field(event, "stage")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<Stage>().ok()),
            ) else {
                return Ok(());
            };
            let max_parallel_tasks = field(event, "max_parallel_tasks")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(u32::MAX);
            let context = CommandContext::reacting(NAME, execution_id, position);
            let start = ExecutionCommand::Start {
                execution_id,
                project_id: aggregate_id,
                stage,
                started_by,
                max_parallel_tasks,
            };
            issue(&state.executions, execution_id, start, "StartExecution", &context).await?;
            drive(state, execution_id, event.position, &context).await
        }
        ("Execution", "StageOpened") => {
            let context = CommandContext::reacting(NAME, aggregate_id, position);
            create_tasks(state, aggregate_id, event, &context).await
        }
        ("Execution", "PauseLifted") => {
            let context = CommandContext::reacting(NAME, aggregate_id, position);
            let retry = field(event, "retry")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for task in retry
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|t| Uuid::parse_str(t).ok())
            {
                issue(&state.tasks, task, TaskCommand::Retry, "RetryTask", &context).await?;
            }
            drive(state, aggregate_id, event.position, &context).await
        }
        (
            "Execution",
            "ExecutionStarted" | "StageCompleted" | "ExecutionCompleted" | "ExecutionCancelled",
        ) => {
            let context = CommandContext::reacting(NAME, aggregate_id, position);
            drive(state, aggregate_id, event.position, &context).await
        }
        ("Task", "TaskFinished") => settle(state, aggregate_id, event).await,
        ("Conflict", "ConflictEscalated" | "ConflictResolved") => {
            let conflict = dispatch::load(&state.conflicts, aggregate_id).await?;
            // Replaying an old escalation must not pause a run after the
            // conflict was resolved.
            if event.event_type == "ConflictEscalated" && conflict.resolved {
                return Ok(());
            }
            let Some(project_id) = conflict.project_id else {
                return Ok(());
            };
            let project = dispatch::load(&state.projects, project_id).await?;
            let Some(execution_id) = project.running_execution else {
                return Ok(());
            };
            let context = CommandContext::reacting(NAME, execution_id, position);
            let (command, name) = if event.event_type == "ConflictEscalated" {
                (
                    ExecutionCommand::PauseForConflict {
                        conflict_id: aggregate_id,
                    },
                    "PauseExecutionForConflict",
                )
            } else {
                (
                    ExecutionCommand::LiftConflictPause {
                        conflict_id: aggregate_id,
                    },
                    "LiftConflictPause",
                )
            };
            issue(&state.executions, execution_id, command, name, &context).await
        }
        _ => Ok(()),
    }
}

/// What the run has cost so far: the usage recorded against its tasks.
async fn run_cost(state: &CommandState, execution_id: Uuid) -> Result<Decimal, AppError> {
    let client = state.lookup_connection().await?;
    let row = client
        .query_one(
            "SELECT coalesce(sum(u.cost_usd), 0) FROM rm_tasks t JOIN rm_task_usage u USING (task_id)
              WHERE t.execution_id = $1",
            &[&execution_id],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Takes the run one step on from where it stands: opens its stage, moves
/// the project to the next stage and opens that, completes it after the
/// last, or, once it is over, lets the project start another.
async fn drive(
    state: &CommandState,
    execution_id: Uuid,
    cause: Position,
    context: &CommandContext,
) -> Result<(), AppError> {
    let run = dispatch::load(&state.executions, execution_id).await?;
    let (Some(project_id), Some(stage)) = (run.project_id, run.stage) else {
        return Ok(());
    };
    match run.status {
        ExecutionStatus::Paused => Ok(()),
        ExecutionStatus::Completed | ExecutionStatus::Cancelled => {
            for (task_id, _) in run.tasks.iter().filter(|(_, slot)| slot.outcome.is_none()) {
                issue(&state.tasks, *task_id, TaskCommand::Cancel, "CancelTask", context).await?;
            }
            let end = ProjectCommand::EndExecution { execution_id };
            issue(&state.projects, project_id, end, "EndExecution", context).await
        }
        ExecutionStatus::Running => match run.phase {
            StagePhase::Open => Ok(()),
            StagePhase::NotOpened => open_stage(state, execution_id, project_id, stage, cause, context).await,
            StagePhase::Completed => match stage.next() {
                None => {
                    let cost_usd = run_cost(state, execution_id).await?;
                    let complete = ExecutionCommand::Complete { cost_usd };
                    issue(
                        &state.executions,
                        execution_id,
                        complete,
                        "CompleteExecution",
                        context,
                    )
                    .await
                }
                Some(next) => {
                    let reach = ProjectCommand::ReachStage {
                        execution_id,
                        stage: next,
                    };
                    issue(&state.projects, project_id, reach, "ReachStage", context).await?;
                    open_stage(state, execution_id, project_id, next, cause, context).await
                }
            },
        },
    }
}

async fn open_stage(
    state: &CommandState,
    execution_id: Uuid,
    project_id: Uuid,
    stage: Stage,
    cause: Position,
    context: &CommandContext,
) -> Result<(), AppError> {
    // The agents registered (and the usage recorded) before the event that
    // opens the stage are in the read models the plan reads once they have
    // applied that event. A read model that cannot catch up does not stop
    // every run: the plan then goes with what it shows.
    if let Err(error) =
        consistency::poll_until_applied(&state.reads, &PLAN_MODELS, ConsistencyToken(cause), PLAN_WAIT).await
    {
        tracing::warn!(%error, "planning a stage with read models behind its cause");
    }
    let (tasks, _) = plan::plan_stage(state, execution_id, project_id, stage).await?;
    let open = ExecutionCommand::OpenStage { stage, tasks };
    issue(&state.executions, execution_id, open, "OpenStage", context).await
}

/// Creates the tasks a `StageOpened` planned, switching each agent to its
/// task's model first (so the switch is in its activity before the work).
async fn create_tasks(
    state: &CommandState,
    execution_id: Uuid,
    event: &StoredEvent,
    context: &CommandContext,
) -> Result<(), AppError> {
    let (Some(stage), Some(tasks)) = (
        field(event, "stage")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Stage>().ok()),
        field(event, "tasks").cloned(),
    ) else {
        return Ok(());
    };
    let Ok(tasks) = serde_json::from_value::<Vec<PlannedTask>>(tasks) else {
        return Ok(());
    };
    let run = dispatch::load(&state.executions, execution_id).await?;
    let Some(project_id) = run.project_id else {
        return Ok(());
    };
    let project = dispatch::load(&state.projects, project_id).await?;
    let budget_remaining_usd = project
        .budget_usd
        .map(|budget| (budget - project.spent_usd).max(Decimal::ZERO));
    for task in tasks {
        let created = dispatch::load(&state.tasks, task.task_id).await?;
        if created.id.is_some() {
            // Created before (a replay): its model switch was recorded then.
            continue;
        }
        let switch = AgentCommand::SwitchModel {
            task_id: task.task_id,
            model: task.model.clone(),
            budget_remaining_usd,
        };
        issue(&state.agents, task.agent_id, switch, "SwitchModel", context).await?;
        let create = TaskCommand::Create {
            task_id: task.task_id,
            execution_id,
            project_id,
            agent_id: task.agent_id,
            stage,
            model: task.model,
        };
        issue(&state.tasks, task.task_id, create, "CreateTask", context).await?;
    }
    Ok(())
}

/// Records a finished task on its run (with the run's cost once the usage
/// read model has caught up with the finish).
async fn settle(state: &CommandState, task_id: Uuid, event: &StoredEvent) -> Result<(), AppError> {
    let outcome = match field(event, "outcome").and_then(Value::as_str) {
        Some("succeeded") => TaskOutcome::Succeeded,
        Some("failed") => TaskOutcome::Failed,
        _ => return Ok(()),
    };
    let task = dispatch::load(&state.tasks, task_id).await?;
    let Some(execution_id) = task.execution_id else {
        return Ok(());
    };
    let caught_up = consistency::poll_until_applied(
        &state.reads,
        &["usage"],
        ConsistencyToken(event.position),
        USAGE_WAIT,
    )
    .await;
    if let Err(error) = caught_up {
        tracing::debug!(%error, "settling with the cost the usage read model shows now");
    }
    let run_cost_usd = run_cost(state, execution_id).await?;
    let context = CommandContext::reacting(NAME, execution_id, event.position.global_position);
    let command = ExecutionCommand::SettleTask {
        task_id,
        outcome,
        run_cost_usd,
    };
    issue(&state.executions, execution_id, command, "SettleTask", &context).await
}
