//! Why the Conflict aggregate refuses a command.

use crate::error::{ErrorKind, FieldError, Refusal};
use crate::shared::access::AccessRefusal;

/// Why a conflict refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConflictError {
    /// A value is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The conflict id is taken.
    #[error("a conflict with this id already exists")]
    AlreadyExists,
    /// No such conflict, or the actor is not in its project.
    #[error("conflict not found")]
    NotFound,
    /// Viewers only read.
    #[error("viewers cannot report or settle conflicts")]
    NotAllowed,
    /// It was already resolved.
    #[error("the conflict is already resolved")]
    AlreadyResolved,
    /// The project is archived: it takes no new conflicts and settles none.
    #[error("the project is archived")]
    ProjectArchived,
}

impl Refusal for ConflictError {
    fn kind(&self) -> ErrorKind {
        match self {
            ConflictError::Invalid(_) => ErrorKind::Invalid,
            ConflictError::NotFound => ErrorKind::NotFound,
            ConflictError::NotAllowed => ErrorKind::Forbidden,
            ConflictError::AlreadyExists
            | ConflictError::AlreadyResolved
            | ConflictError::ProjectArchived => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ConflictError::Invalid(e) => vec![e.clone()],
            _ => vec![],
        }
    }
}

impl From<AccessRefusal> for ConflictError {
    fn from(refusal: AccessRefusal) -> Self {
        match refusal {
            AccessRefusal::NotMember => ConflictError::NotFound,
            AccessRefusal::Viewer => ConflictError::NotAllowed,
            AccessRefusal::Archived => ConflictError::ProjectArchived,
        }
    }
}
