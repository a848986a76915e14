//! Values of the Execution aggregate: its status, why it pauses, the tasks
//! a stage plans.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::TaskOutcome;
use crate::project::Stage;

/// Where a run stands.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ExecutionStatus {
    /// Stages are being worked through.
    #[default]
    Running,
    /// Waiting: no work is handed out until every pause reason is lifted.
    Paused,
    /// Every stage is done.
    Completed,
    /// A person stopped it.
    Cancelled,
}

crate::named::named!(ExecutionStatus => "status");

impl ExecutionStatus {
    /// Whether the run is over (nothing more happens to it).
    pub fn is_finished(self) -> bool {
        matches!(self, ExecutionStatus::Completed | ExecutionStatus::Cancelled)
    }
}

/// Why a run waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PauseReason {
    /// A person paused it.
    Manual {
        /// Who.
        by: Uuid,
    },
    /// A task failed (its outcome was `failed`, or its lease lapsed three times).
    TaskFailed {
        /// The task.
        task_id: Uuid,
    },
    /// A conflict in the project was escalated to a person.
    ConflictEscalated {
        /// The conflict.
        conflict_id: Uuid,
    },
}

/// One task a stage opens with: its deterministic id, the agent that does
/// it and the model it is to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTask {
    /// UUIDv5 of (execution, stage, agent): see [`PlannedTask::id_for`].
    pub task_id: Uuid,
    /// The agent.
    pub agent_id: Uuid,
    /// The model the task runs on.
    pub model: String,
}

impl PlannedTask {
    /// The task id of `agent_id`'s work in `stage` of `execution_id`: the
    /// same inputs give the same id, so planning a stage again after a crash
    /// names the tasks it already created.
    pub fn id_for(execution_id: Uuid, stage: Stage, agent_id: Uuid) -> Uuid {
        let mut name = Vec::with_capacity(16 + stage.as_str().len() + 16);
        name.extend_from_slice(agent_id.as_bytes());
        name.extend_from_slice(stage.as_str().as_bytes());
        Uuid::new_v5(&execution_id, &name)
    }
}

/// Where the current stage stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StagePhase {
    /// Its tasks are not planned yet.
    #[default]
    NotOpened,
    /// Its tasks are being worked on.
    Open,
    /// Every task of it succeeded.
    Completed,
}

/// A task of the run, as the run tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSlot {
    /// The agent doing it.
    pub agent_id: Uuid,
    /// Its stage.
    pub stage: Stage,
    /// How it ended, once it has.
    pub outcome: Option<TaskOutcome>,
}
