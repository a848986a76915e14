//! Events of the Conversation aggregate: a persisted contract.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::MessageRole;

/// Something that happened in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConversationEvent {
    /// A conversation was started in a project.
    ConversationStarted {
        /// The conversation's id.
        conversation_id: Uuid,
        /// The project it belongs to.
        project_id: Uuid,
        /// Its title.
        title: String,
        /// Who started it.
        started_by: Uuid,
    },
    /// A message was sent.
    MessageSent {
        /// The message's id.
        message_id: Uuid,
        /// Its place in the conversation, from 1, without gaps.
        number: u64,
        /// The user who sent it.
        author_id: Uuid,
        /// Who speaks: user, agent or system.
        role: MessageRole,
        /// The agent speaking, for agent messages.
        agent_id: Option<Uuid>,
        /// The text.
        content: String,
    },
    /// A message's text was changed by its author.
    MessageEdited {
        /// The message.
        message_id: Uuid,
        /// The new text.
        content: String,
        /// Who changed it.
        edited_by: Uuid,
    },
    /// A message was deleted; read models drop its content.
    MessageDeleted {
        /// The message.
        message_id: Uuid,
        /// Who deleted it.
        deleted_by: Uuid,
    },
    /// The conversation was archived: no new messages.
    ConversationArchived {
        /// Who archived it.
        archived_by: Uuid,
    },
}

impl DomainEvent for ConversationEvent {
    fn event_type(&self) -> String {
        match self {
            ConversationEvent::ConversationStarted { .. } => "ConversationStarted",
            ConversationEvent::MessageSent { .. } => "MessageSent",
            ConversationEvent::MessageEdited { .. } => "MessageEdited",
            ConversationEvent::MessageDeleted { .. } => "MessageDeleted",
            ConversationEvent::ConversationArchived { .. } => "ConversationArchived",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
