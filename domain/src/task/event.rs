//! Events of the Task aggregate. Names and fields are a persisted contract.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::TaskOutcome;
use crate::project::Stage;

/// Something that happened to an orchestrated task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskEvent {
    /// A stage's task was created for an agent.
    TaskOpened {
        /// Its id.
        task_id: Uuid,
        /// The run.
        execution_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// The agent.
        agent_id: Uuid,
        /// Its stage.
        stage: Stage,
        /// The model it runs on.
        model: String,
    },
    /// The agent took it under a lease.
    TaskClaimed {
        /// The agent.
        agent_id: Uuid,
        /// When the lease ends unless extended.
        lease_until: DateTime<Utc>,
        /// Which claim this is (1 for the first).
        attempt: u32,
    },
    /// The agent's heartbeat extended the lease.
    TaskLeaseExtended {
        /// When the lease now ends.
        lease_until: DateTime<Utc>,
    },
    /// The lease ended without a heartbeat: the task is open again (or
    /// failed, after the last allowed lapse).
    TaskLeaseLapsed {
        /// The lease that ended.
        lease_until: DateTime<Utc>,
        /// Lapses so far, this one included.
        lapses: u32,
    },
    /// It ended.
    TaskFinished {
        /// How.
        outcome: TaskOutcome,
        /// Notes (the agent's, or why it failed).
        detail: String,
    },
    /// A failed task was handed out again (its run resumed).
    TaskReopened {},
    /// Its run was cancelled.
    TaskCancelled {},
}

impl DomainEvent for TaskEvent {
    fn event_type(&self) -> String {
        match self {
            TaskEvent::TaskOpened { .. } => "TaskOpened",
            TaskEvent::TaskClaimed { .. } => "TaskClaimed",
            TaskEvent::TaskLeaseExtended { .. } => "TaskLeaseExtended",
            TaskEvent::TaskLeaseLapsed { .. } => "TaskLeaseLapsed",
            TaskEvent::TaskFinished { .. } => "TaskFinished",
            TaskEvent::TaskReopened { .. } => "TaskReopened",
            TaskEvent::TaskCancelled { .. } => "TaskCancelled",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
