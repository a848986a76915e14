//! Why the Execution aggregate refuses a command.

use crate::error::{ErrorKind, FieldError, Refusal};
use crate::project::Stage;
use crate::shared::access::AccessRefusal;

/// Why a run refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecutionError {
    /// The run id is taken.
    #[error("an execution with this id already exists")]
    AlreadyExists,
    /// No such run, or the actor is not in its project.
    #[error("execution not found")]
    NotFound,
    /// Only the project's owners and admins direct a run.
    #[error("only the project's owners and admins direct its execution")]
    NotAllowed,
    /// The project is archived.
    #[error("the project is archived")]
    ProjectArchived,
    /// The run is over.
    #[error("the execution is already {status}")]
    Finished {
        /// Completed or cancelled.
        status: super::ExecutionStatus,
    },
    /// The run is paused: it opens no stage and completes nothing until resumed.
    #[error("the execution is paused")]
    Paused,
    /// Resuming a run that is not paused.
    #[error("the execution is not paused")]
    NotPaused,
    /// The stage is neither the current one nor the next after a completed one.
    #[error("the execution is at stage {current}; {requested} cannot open now")]
    StageOutOfOrder {
        /// Where the run is.
        current: Stage,
        /// What was asked for.
        requested: Stage,
    },
    /// Completing before the last stage is done.
    #[error("the execution's stage {current} is not the last one completed")]
    StagesRemain {
        /// Where the run is.
        current: Stage,
    },
    /// Settling a task the run did not plan.
    #[error("this task is not one of the execution's")]
    UnknownTask,
}

impl Refusal for ExecutionError {
    fn kind(&self) -> ErrorKind {
        match self {
            ExecutionError::NotFound | ExecutionError::UnknownTask => ErrorKind::NotFound,
            ExecutionError::NotAllowed => ErrorKind::Forbidden,
            ExecutionError::AlreadyExists
            | ExecutionError::ProjectArchived
            | ExecutionError::Finished { .. }
            | ExecutionError::Paused
            | ExecutionError::NotPaused
            | ExecutionError::StageOutOfOrder { .. }
            | ExecutionError::StagesRemain { .. } => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

impl From<AccessRefusal> for ExecutionError {
    fn from(refusal: AccessRefusal) -> Self {
        match refusal {
            AccessRefusal::NotMember => ExecutionError::NotFound,
            AccessRefusal::Viewer => ExecutionError::NotAllowed,
            AccessRefusal::Archived => ExecutionError::ProjectArchived,
        }
    }
}
