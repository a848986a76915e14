//! The Conversation aggregate: messages between people and agents in a project.
//!
//! A conversation can hold hundreds of thousands of messages, so its state
//! keeps only what decisions need (project, status, counters), never the
//! messages: sending costs the same at any length, and snapshots stay tiny.
//! Facts about one message (author, deleted) are read from the event store
//! before the command is built and checked against the stream version.
//!
//! # Layout
//! - `values`: title, content, message role.
//! - `command`, `event`, `error`: what may be asked, what happened, why not.

mod command;
mod error;
mod event;
mod values;

use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::{ConversationCommand, MessageFacts};
pub use error::ConversationError;
pub use event::ConversationEvent;
pub use values::{MessageContent, MessageRole, Title};

use crate::project::Role;
use crate::shared::access::ProjectAccess;

/// What a conversation's decisions need; rebuilt from its events or a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Set by `ConversationStarted`.
    pub id: Option<Uuid>,
    /// The project it belongs to.
    pub project_id: Option<Uuid>,
    /// Who started it.
    pub started_by: Option<Uuid>,
    /// Whether it was archived.
    pub archived: bool,
    /// Messages sent so far (the next message's number is this plus one).
    pub messages_sent: u64,
    /// Events applied so far: the stream version.
    pub version: u64,
}

impl Aggregate for Conversation {
    const TYPE: &'static str = "Conversation";
    type Command = ConversationCommand;
    type Event = ConversationEvent;
    type Error = ConversationError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            ConversationEvent::ConversationStarted {
                conversation_id,
                project_id,
                started_by,
                ..
            } => {
                self.id = Some(conversation_id);
                self.project_id = Some(project_id);
                self.started_by = Some(started_by);
            }
            ConversationEvent::MessageSent { number, .. } => self.messages_sent = number,
            ConversationEvent::MessageEdited { .. } | ConversationEvent::MessageDeleted { .. } => {}
            ConversationEvent::ConversationArchived { .. } => self.archived = true,
        }
    }
}

crate::sink::decider!(Conversation);

/// The actor's role, or "not found" for outsiders.
fn member_role(access: ProjectAccess) -> Result<Role, ConversationError> {
    access.member_role().map_err(ConversationError::from)
}

/// The shared writer rule ([`ProjectAccess::require_writer`]), refused in
/// this aggregate's words.
fn require_writer(access: ProjectAccess) -> Result<Role, ConversationError> {
    access.require_writer().map_err(ConversationError::from)
}

impl Conversation {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`ConversationError`] naming the rule the command breaks.
    pub fn decide(&self, command: ConversationCommand) -> Result<Vec<ConversationEvent>, ConversationError> {
        if self.id.is_none() && !matches!(command, ConversationCommand::Start { .. }) {
            return Err(ConversationError::NotFound);
        }
        match command {
            ConversationCommand::Start {
                conversation_id,
                project_id,
                title,
                actor,
                access,
            } => {
                if self.id.is_some() {
                    return Err(ConversationError::AlreadyExists);
                }
                require_writer(access)?;
                Ok(vec![ConversationEvent::ConversationStarted {
                    conversation_id,
                    project_id,
                    title: title.as_str().to_owned(),
                    started_by: actor,
                }])
            }
            ConversationCommand::Send {
                message_id,
                actor,
                access,
                role,
                agent_id,
                content,
            } => {
                require_writer(access)?;
                if self.archived {
                    return Err(ConversationError::Archived);
                }
                if role == MessageRole::Agent && agent_id.is_none() {
                    return Err(ConversationError::Invalid(crate::FieldError::new(
                        "agent_id",
                        "agent messages must name the agent",
                    )));
                }
                Ok(vec![ConversationEvent::MessageSent {
                    message_id,
                    number: self.messages_sent + 1,
                    author_id: actor,
                    role,
                    agent_id,
                    content: content.as_str().to_owned(),
                }])
            }
            ConversationCommand::Edit {
                message_id,
                actor,
                access,
                content,
                facts,
            } => {
                require_writer(access)?;
                let facts = self.current_facts(facts)?;
                if facts.author_id != actor {
                    return Err(ConversationError::NotAllowed(
                        "only its author can edit a message",
                    ));
                }
                Ok(vec![ConversationEvent::MessageEdited {
                    message_id,
                    content: content.as_str().to_owned(),
                    edited_by: actor,
                }])
            }
            ConversationCommand::Delete {
                message_id,
                actor,
                access,
                facts,
            } => {
                let role = member_role(access)?;
                let facts = self.current_facts(facts)?;
                if facts.author_id != actor && !role.can_manage() {
                    return Err(ConversationError::NotAllowed(
                        "only its author or a project owner or admin can delete a message",
                    ));
                }
                Ok(vec![ConversationEvent::MessageDeleted {
                    message_id,
                    deleted_by: actor,
                }])
            }
            ConversationCommand::Archive { actor, access } => {
                let role = member_role(access)?;
                if self.started_by != Some(actor) && !role.can_manage() {
                    return Err(ConversationError::NotAllowed(
                        "only its starter or a project owner or admin can archive a conversation",
                    ));
                }
                if self.archived {
                    return Ok(vec![]);
                }
                Ok(vec![ConversationEvent::ConversationArchived {
                    archived_by: actor,
                }])
            }
        }
    }

    /// The message facts, if they exist, are current and the message is not deleted.
    fn current_facts(&self, facts: Option<MessageFacts>) -> Result<MessageFacts, ConversationError> {
        let facts = facts.ok_or(ConversationError::MessageNotFound)?;
        if facts.as_of_version != self.version {
            return Err(ConversationError::StaleFacts);
        }
        if facts.deleted {
            return Err(ConversationError::MessageDeleted);
        }
        Ok(facts)
    }
}

#[cfg(test)]
mod tests;
