//! Why a source or a folder refuses a command.

use crate::error::{ErrorKind, FieldError, Refusal};
use crate::shared::access::AccessRefusal;

/// Why a source or a source folder refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// A value is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The id is taken.
    #[error("a source or folder with this id already exists")]
    AlreadyExists,
    /// No such source or folder (or removed), or the actor is not in its project.
    #[error("not found")]
    NotFound,
    /// Viewers only read.
    #[error("viewers may read sources but not change them")]
    NotAllowed,
    /// The project is archived.
    #[error("the project is archived")]
    ProjectArchived,
    /// A folder still holds sources or folders.
    #[error("the folder is not empty: move or delete what it holds first")]
    FolderNotEmpty,
    /// A folder cannot go under itself or under one of its own folders.
    #[error("a folder cannot be moved into itself or into one of its subfolders")]
    FolderCycle,
}

impl Refusal for SourceError {
    fn kind(&self) -> ErrorKind {
        match self {
            SourceError::Invalid(_) | SourceError::FolderCycle => ErrorKind::Invalid,
            SourceError::NotFound => ErrorKind::NotFound,
            SourceError::NotAllowed => ErrorKind::Forbidden,
            SourceError::AlreadyExists | SourceError::ProjectArchived | SourceError::FolderNotEmpty => {
                ErrorKind::Conflict
            }
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            SourceError::Invalid(e) => vec![e.clone()],
            SourceError::FolderCycle => vec![FieldError::new("parent_id", self.to_string())],
            _ => vec![],
        }
    }
}

impl From<AccessRefusal> for SourceError {
    fn from(refusal: AccessRefusal) -> Self {
        match refusal {
            AccessRefusal::NotMember => SourceError::NotFound,
            AccessRefusal::Viewer => SourceError::NotAllowed,
            AccessRefusal::Archived => SourceError::ProjectArchived,
        }
    }
}
