//! Why a projection refuses a command.

use super::*;

/// Why an operator's decision is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProjectionError {
    /// The event is skipped already.
    #[error("the event at position {position} is already skipped")]
    AlreadySkipped {
        /// Its position.
        position: i64,
    },
}

impl Refusal for ProjectionError {
    fn kind(&self) -> ErrorKind {
        match self {
            ProjectionError::AlreadySkipped { .. } => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}
