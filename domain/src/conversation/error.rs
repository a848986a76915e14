//! Why the Conversation aggregate refuses a command.

use crate::error::{ErrorKind, FieldError, Refusal};
use crate::shared::access::AccessRefusal;

/// A rule of the Conversation aggregate that a command broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConversationError {
    /// A value in the command is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The conversation id is taken.
    #[error("a conversation with this id already exists")]
    AlreadyExists,
    /// No such conversation, or the actor is not in its project.
    #[error("conversation not found")]
    NotFound,
    /// No such message in this conversation.
    #[error("message not found")]
    MessageNotFound,
    /// The actor's role does not allow this.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The conversation is archived.
    #[error("the conversation is archived; it takes no new messages")]
    Archived,
    /// The project is archived.
    #[error("the project is archived")]
    ProjectArchived,
    /// The message was deleted.
    #[error("the message was deleted")]
    MessageDeleted,
    /// The facts the command was built on are out of date; build it again.
    #[error("the conversation changed while the request was prepared; retry")]
    StaleFacts,
}

impl From<AccessRefusal> for ConversationError {
    fn from(refusal: AccessRefusal) -> Self {
        match refusal {
            AccessRefusal::NotMember => ConversationError::NotFound,
            AccessRefusal::Viewer => ConversationError::NotAllowed("viewers cannot write in conversations"),
            AccessRefusal::Archived => ConversationError::ProjectArchived,
        }
    }
}

impl Refusal for ConversationError {
    fn kind(&self) -> ErrorKind {
        match self {
            ConversationError::Invalid(_) => ErrorKind::Invalid,
            ConversationError::NotFound | ConversationError::MessageNotFound => ErrorKind::NotFound,
            ConversationError::NotAllowed(_) => ErrorKind::Forbidden,
            ConversationError::AlreadyExists
            | ConversationError::Archived
            | ConversationError::ProjectArchived
            | ConversationError::MessageDeleted
            | ConversationError::StaleFacts => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ConversationError::Invalid(e) => vec![e.clone()],
            _ => vec![],
        }
    }
}
