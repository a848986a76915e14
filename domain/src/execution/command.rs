//! Commands of the Execution aggregate. People start, pause, resume and
//! cancel runs; the orchestrator (a process manager) does the rest.

use uuid::Uuid;

use super::values::PlannedTask;
use crate::agent::TaskOutcome;
use crate::project::Stage;
use crate::shared::access::ProjectAccess;

/// Something asked of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionCommand {
    /// Begin a run at `stage` (the project decided that none is running).
    Start {
        /// The id chosen for it (UUIDv7).
        execution_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// The stage it starts at: the project's current one.
        stage: Stage,
        /// Who started it.
        started_by: Uuid,
        /// At most this many of its tasks are claimed at once.
        max_parallel_tasks: u32,
    },
    /// Plan the tasks of `stage` (the current one, or the next after a
    /// completed one). Opening an opened stage again changes nothing.
    OpenStage {
        /// The stage.
        stage: Stage,
        /// One task per agent registered for the stage.
        tasks: Vec<PlannedTask>,
    },
    /// Record how one of the run's tasks ended. Recording it again changes
    /// nothing.
    SettleTask {
        /// The task.
        task_id: Uuid,
        /// How it ended.
        outcome: TaskOutcome,
        /// What the run has cost so far (USD), as the usage read model shows it.
        run_cost_usd: rust_decimal::Decimal,
    },
    /// A person pauses the run.
    Pause {
        /// Who.
        actor: Uuid,
        /// Their standing in the project.
        access: ProjectAccess,
    },
    /// A person lifts every pause reason; failed tasks of the stage are tried again.
    Resume {
        /// Who.
        actor: Uuid,
        /// Their standing in the project.
        access: ProjectAccess,
    },
    /// A person stops the run for good.
    Cancel {
        /// Who.
        actor: Uuid,
        /// Their standing in the project.
        access: ProjectAccess,
    },
    /// An escalated conflict pauses the run until it is resolved.
    PauseForConflict {
        /// The conflict.
        conflict_id: Uuid,
    },
    /// The escalated conflict was resolved: its pause reason is lifted.
    LiftConflictPause {
        /// The conflict.
        conflict_id: Uuid,
    },
    /// The last stage is done: the run is complete.
    Complete {
        /// What the run cost (USD).
        cost_usd: rust_decimal::Decimal,
    },
}
