//! Commands of the Agent aggregate.

use uuid::Uuid;

use super::values::{AgentStatus, TaskOutcome};
use crate::pricing::ModelName;
use crate::project::Stage;
use crate::shared::access::ProjectAccess;
use crate::shared::text::{Detail, Label};

/// Something asked of an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    /// Register a new agent in a project.
    Register {
        /// The id chosen for it (UUIDv7).
        agent_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its name.
        name: Label,
        /// What kind of agent it is (`developer`, `architect`, …).
        kind: Label,
        /// The workflow stage it works on, if any.
        stage: Option<Stage>,
        /// Its default model.
        model: ModelName,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Report a new status.
    ChangeStatus {
        /// The status.
        status: AgentStatus,
        /// Why, for people.
        detail: Detail,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Give the agent a task.
    AssignTask {
        /// The id chosen for it (UUIDv7).
        task_id: Uuid,
        /// What to do.
        title: Label,
        /// More about it.
        description: Detail,
        /// The stage it belongs to, if any.
        stage: Option<Stage>,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Close one of the agent's open tasks.
    CompleteTask {
        /// The task.
        task_id: Uuid,
        /// How it ended.
        outcome: TaskOutcome,
        /// Notes.
        detail: Detail,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Record that the agent took a file lock on the context bus (the bus
    /// granted it; the record is for auditors and for fencing after a
    /// Redis restart).
    RecordLockAcquired {
        /// The lock.
        lock_id: Uuid,
        /// The file.
        file_path: String,
        /// Its fencing token.
        fencing_token: i64,
        /// When it lapses unless released.
        expires_at: chrono::DateTime<chrono::Utc>,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Record that the agent's lock was released.
    RecordLockReleased {
        /// The lock.
        lock_id: Uuid,
        /// The file.
        file_path: String,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// The orchestrator runs the agent's next task on `model` (its own, or
    /// a cheaper one the budget allows). Switching to the model it is on
    /// changes nothing.
    SwitchModel {
        /// The task that runs on it.
        task_id: Uuid,
        /// The model.
        model: String,
        /// What remained of the budget when the choice was made.
        budget_remaining_usd: Option<rust_decimal::Decimal>,
    },
}
