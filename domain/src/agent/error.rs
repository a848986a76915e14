//! Why the Agent aggregate refuses a command.

use crate::error::{ErrorKind, Refusal};
use crate::shared::access::AccessRefusal;

/// Why an agent refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentError {
    /// The agent id is taken.
    #[error("an agent with this id already exists")]
    AlreadyExists,
    /// No such agent, or the actor is not in its project.
    #[error("agent not found")]
    NotFound,
    /// The actor may only read.
    #[error("viewers cannot direct agents")]
    NotAllowed,
    /// The project is archived.
    #[error("the project is archived")]
    ProjectArchived,
    /// The task is not one of the agent's open tasks.
    #[error("the agent has no open task with this id")]
    TaskNotOpen,
}

impl Refusal for AgentError {
    fn kind(&self) -> ErrorKind {
        match self {
            AgentError::NotFound | AgentError::TaskNotOpen => ErrorKind::NotFound,
            AgentError::NotAllowed => ErrorKind::Forbidden,
            AgentError::AlreadyExists | AgentError::ProjectArchived => ErrorKind::Conflict,
        }
    }
}

impl From<AccessRefusal> for AgentError {
    fn from(refusal: AccessRefusal) -> Self {
        match refusal {
            AccessRefusal::NotMember => AgentError::NotFound,
            AccessRefusal::Viewer => AgentError::NotAllowed,
            AccessRefusal::Archived => AgentError::ProjectArchived,
        }
    }
}
