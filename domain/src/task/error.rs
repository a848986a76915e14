//! Why the Task aggregate refuses a command.

use crate::error::{ErrorKind, FieldError, Refusal};
use crate::shared::access::AccessRefusal;

/// Why an orchestrated task refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    /// The task exists already (the orchestrator created it before).
    #[error("this task exists already")]
    AlreadyExists,
    /// No such task for this agent.
    #[error("task not found")]
    NotFound,
    /// Viewers only read.
    #[error("viewers cannot finish tasks")]
    NotAllowed,
    /// The project is archived.
    #[error("the project is archived")]
    ProjectArchived,
    /// Someone holds the lease and it has not ended.
    #[error("the task is claimed under a lease that has not ended")]
    Claimed,
    /// The heartbeat's lease is gone: it lapsed, or the task ended.
    #[error("the lease on this task was lost; claim work again")]
    LeaseLost,
    /// The task has ended.
    #[error("the task has ended ({state})")]
    Finished {
        /// How.
        state: super::TaskState,
    },
}

impl Refusal for TaskError {
    fn kind(&self) -> ErrorKind {
        match self {
            TaskError::NotFound => ErrorKind::NotFound,
            TaskError::NotAllowed => ErrorKind::Forbidden,
            TaskError::AlreadyExists
            | TaskError::ProjectArchived
            | TaskError::Claimed
            | TaskError::LeaseLost
            | TaskError::Finished { .. } => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

impl From<AccessRefusal> for TaskError {
    fn from(refusal: AccessRefusal) -> Self {
        match refusal {
            AccessRefusal::NotMember => TaskError::NotFound,
            AccessRefusal::Viewer => TaskError::NotAllowed,
            AccessRefusal::Archived => TaskError::ProjectArchived,
        }
    }
}
