//! Commands of the Task aggregate: the orchestrator creates tasks, agent
//! processes claim, keep and finish them, the lease sweeper lapses them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::agent::TaskOutcome;
use crate::project::Stage;
use crate::shared::access::ProjectAccess;
use crate::shared::text::Detail;

/// Something asked of an orchestrated task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskCommand {
    /// Create the task a stage planned (its id is deterministic: creating
    /// it again is refused as `AlreadyExists`, which the orchestrator reads as done).
    Create {
        /// Its id (UUIDv5 of run, stage and agent).
        task_id: Uuid,
        /// The run.
        execution_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// The agent that does it.
        agent_id: Uuid,
        /// Its stage.
        stage: Stage,
        /// The model it runs on.
        model: String,
    },
    /// The agent takes the task under a lease.
    Claim {
        /// The agent asking.
        agent_id: Uuid,
        /// The time now (a lease that ended before it has lapsed).
        now: DateTime<Utc>,
        /// When the new lease ends.
        lease_until: DateTime<Utc>,
    },
    /// The agent keeps its lease alive.
    Heartbeat {
        /// The agent asking.
        agent_id: Uuid,
        /// The time now.
        now: DateTime<Utc>,
        /// When the extended lease ends.
        lease_until: DateTime<Utc>,
    },
    /// The sweeper found the lease `lease_until` ended before `now`.
    Lapse {
        /// The lease it found (a lease extended since is left alone).
        lease_until: DateTime<Utc>,
        /// The time now.
        now: DateTime<Utc>,
    },
    /// The agent reports how the task ended.
    Finish {
        /// The agent reporting.
        agent_id: Uuid,
        /// How it ended.
        outcome: TaskOutcome,
        /// Notes.
        detail: Detail,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// A person resumed the run: a failed task is handed out again.
    Retry,
    /// The run was cancelled.
    Cancel,
}
