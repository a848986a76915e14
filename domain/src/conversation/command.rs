//! Commands of the Conversation aggregate. What the decision needs from
//! elsewhere (the actor's role in the project, facts about one message) is
//! resolved before the command is built and carried in it.

use uuid::Uuid;

use super::values::{MessageContent, MessageRole, Title};
use crate::shared::access::ProjectAccess;

/// What the event store says about one message, read just before the
/// command, together with the stream version it was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageFacts {
    /// Who wrote it.
    pub author_id: Uuid,
    /// Whether it was deleted.
    pub deleted: bool,
    /// How many events the conversation had when these facts were read; the
    /// decision refuses stale facts so a concurrent delete is never missed.
    pub as_of_version: u64,
}

/// Something asked of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationCommand {
    /// Start a conversation in a project.
    Start {
        /// The id chosen for it (UUIDv7).
        conversation_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its title.
        title: Title,
        /// Who asks.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Send a message.
    Send {
        /// The id chosen for it (UUIDv7).
        message_id: Uuid,
        /// Who sends it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
        /// Who speaks.
        role: MessageRole,
        /// The agent speaking, for agent messages.
        agent_id: Option<Uuid>,
        /// The text.
        content: MessageContent,
    },
    /// Change a message's text (its author only).
    Edit {
        /// The message.
        message_id: Uuid,
        /// Who asks.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
        /// The new text.
        content: MessageContent,
        /// The message as stored, if it exists.
        facts: Option<MessageFacts>,
    },
    /// Delete a message (its author, or a project owner or admin).
    Delete {
        /// The message.
        message_id: Uuid,
        /// Who asks.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
        /// The message as stored, if it exists.
        facts: Option<MessageFacts>,
    },
    /// Archive the conversation (its starter, or a project owner or admin).
    Archive {
        /// Who asks.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
}
