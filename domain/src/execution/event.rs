//! Events of the Execution aggregate. Names and fields are a persisted contract.

use cqrs_es::DomainEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{PauseReason, PlannedTask};
use crate::agent::TaskOutcome;
use crate::project::Stage;

/// Something that happened to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExecutionEvent {
    /// A run began.
    ExecutionStarted {
        /// Its id.
        execution_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// The stage it starts at.
        stage: Stage,
        /// Who started it.
        started_by: Uuid,
        /// At most this many of its tasks are claimed at once.
        max_parallel_tasks: u32,
    },
    /// A stage's tasks were planned.
    StageOpened {
        /// The stage.
        stage: Stage,
        /// Its tasks.
        tasks: Vec<PlannedTask>,
    },
    /// One of the run's tasks ended.
    TaskSettled {
        /// The task.
        task_id: Uuid,
        /// Its agent.
        agent_id: Uuid,
        /// Its stage.
        stage: Stage,
        /// How it ended.
        outcome: TaskOutcome,
        /// Tasks of the stage that have ended, this one included.
        settled: u32,
        /// Tasks of the stage.
        total: u32,
        /// What the run has cost so far (USD).
        run_cost_usd: Decimal,
    },
    /// Every task of a stage succeeded.
    StageCompleted {
        /// The stage.
        stage: Stage,
    },
    /// The run waits for a reason.
    ExecutionPaused {
        /// Why.
        reason: PauseReason,
    },
    /// Pause reasons were lifted; the run goes on when none remain.
    PauseLifted {
        /// The reasons lifted.
        reasons: Vec<PauseReason>,
        /// Failed tasks handed out again.
        retry: Vec<Uuid>,
        /// The person who lifted them, when one did.
        by: Option<Uuid>,
    },
    /// A person stopped the run.
    ExecutionCancelled {
        /// Who.
        by: Uuid,
    },
    /// Every stage is done.
    ExecutionCompleted {
        /// What the run cost (USD).
        cost_usd: Decimal,
    },
}

impl DomainEvent for ExecutionEvent {
    fn event_type(&self) -> String {
        match self {
            ExecutionEvent::ExecutionStarted { .. } => "ExecutionStarted",
            ExecutionEvent::StageOpened { .. } => "StageOpened",
            ExecutionEvent::TaskSettled { .. } => "TaskSettled",
            ExecutionEvent::StageCompleted { .. } => "StageCompleted",
            ExecutionEvent::ExecutionPaused { .. } => "ExecutionPaused",
            ExecutionEvent::PauseLifted { .. } => "PauseLifted",
            ExecutionEvent::ExecutionCancelled { .. } => "ExecutionCancelled",
            ExecutionEvent::ExecutionCompleted { .. } => "ExecutionCompleted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
