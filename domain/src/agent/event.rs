//! Events of the Agent aggregate. Names and fields are a persisted contract.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{AgentStatus, TaskOutcome};
use crate::project::Stage;

/// Something that happened to an agent. A persisted contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgentEvent {
    /// An agent joined a project.
    AgentRegistered {
        /// Its id.
        agent_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its name.
        name: String,
        /// Its kind.
        kind: String,
        /// Its stage, if any.
        stage: Option<Stage>,
        /// Its default model.
        model: String,
    },
    /// Its status changed.
    AgentStatusChanged {
        /// The status before.
        from: AgentStatus,
        /// The status now.
        to: AgentStatus,
        /// Why.
        detail: String,
    },
    /// It was given a task.
    TaskAssigned {
        /// The task's id.
        task_id: Uuid,
        /// What to do.
        title: String,
        /// More about it.
        description: String,
        /// The stage, if any.
        stage: Option<Stage>,
    },
    /// It closed a task.
    TaskCompleted {
        /// The task.
        task_id: Uuid,
        /// How it ended.
        outcome: TaskOutcome,
        /// Notes.
        detail: String,
    },
    /// It took a file lock on the context bus.
    FileLockAcquired {
        /// The lock.
        lock_id: Uuid,
        /// The project the file belongs to.
        project_id: Uuid,
        /// The file.
        file_path: String,
        /// Its fencing token: larger than every earlier one of the path.
        fencing_token: i64,
        /// When it lapses unless released.
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// The orchestrator moved it to another model for its next task (the
    /// budget no longer covered its own, or covers it again).
    ModelSwitched {
        /// The agent.
        agent_id: Uuid,
        /// The model it was on.
        from: String,
        /// The model it is on now.
        to: String,
        /// The task that runs on it.
        task_id: Uuid,
        /// What remained of the budget when the choice was made.
        budget_remaining_usd: Option<rust_decimal::Decimal>,
    },
    /// It released a file lock.
    FileLockReleased {
        /// The lock.
        lock_id: Uuid,
        /// The file.
        file_path: String,
    },
}

impl DomainEvent for AgentEvent {
    fn event_type(&self) -> String {
        match self {
            AgentEvent::AgentRegistered { .. } => "AgentRegistered",
            AgentEvent::AgentStatusChanged { .. } => "AgentStatusChanged",
            AgentEvent::TaskAssigned { .. } => "TaskAssigned",
            AgentEvent::TaskCompleted { .. } => "TaskCompleted",
            AgentEvent::FileLockAcquired { .. } => "FileLockAcquired",
            AgentEvent::FileLockReleased { .. } => "FileLockReleased",
            AgentEvent::ModelSwitched { .. } => "ModelSwitched",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
