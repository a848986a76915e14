//! `conversations`: conversations per project (`rm_conversations`, with
//! message counts) and their messages (`rm_messages`, content dropped on delete).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::conversation::ConversationEvent;
use zekka_event_store::event_log::StoredEvent;

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `conversations` read model.
pub struct ConversationsProjection;

#[async_trait]
impl Projection for ConversationsProjection {
    fn name(&self) -> &'static str {
        "conversations"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_conversations", "rm_messages"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Conversation", "User"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type == "User" {
            if event.event_type == "UserErased" {
                purge_person(tx, uuid_of(&event.aggregate_id)?).await?;
            }
            return Ok(());
        }
        let conversation_id = uuid_of(&event.aggregate_id)?;
        let at = &event.recorded_at;
        match super::decode::<ConversationEvent>(event)? {
            ConversationEvent::ConversationStarted {
                project_id,
                title,
                started_by,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_conversations
                            (conversation_id, project_id, title, started_by, status, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, 'active', $5, $5)",
                    )
                    .await?;
                tx.execute(&insert, &[&conversation_id, &project_id, &title, &started_by, at])
                    .await?;
            }
            sent @ ConversationEvent::MessageSent { .. } => {
                let mut one = SentMessages::default();
                one.push_event(conversation_id, sent, event.recorded_at);
                one.write(tx).await?;
            }
            ConversationEvent::MessageEdited {
                message_id, content, ..
            } => {
                // An edit that raced a delete never brings the content back.
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_messages SET content = $2, edited_at = $3
                          WHERE message_id = $1 AND deleted_at IS NULL",
                    )
                    .await?;
                tx.execute(&update, &[&message_id, &content, at]).await?;
            }
            ConversationEvent::MessageDeleted { message_id, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_messages SET content = NULL, deleted_at = $2 WHERE message_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&message_id, at]).await?;
            }
            ConversationEvent::ConversationArchived { .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_conversations SET status = 'archived', updated_at = $2 WHERE conversation_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&conversation_id, at]).await?;
            }
        }
        Ok(())
    }

    async fn apply_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        // Runs of sent messages (nearly every event) go in with one
        // multi-row insert and one count update per conversation; any other
        // event is applied after the messages before it, in stream order.
        let mut sent = SentMessages::default();
        for event in events {
            if event.aggregate_type == "Conversation" && event.event_type == "MessageSent" {
                let message = super::decode::<ConversationEvent>(event)?;
                sent.push_event(uuid_of(&event.aggregate_id)?, message, event.recorded_at);
                continue;
            }
            sent.write(tx).await?;
            self.apply(tx, event).await?;
        }
        sent.write(tx).await
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_conversations, rm_messages").await?;
        Ok(())
    }
}

/// An erased person's messages lose their content, and the conversations
/// they started their title, in every read model (the sealed originals in
/// the events can no longer be opened).
async fn purge_person(tx: &Transaction<'_>, person: uuid::Uuid) -> Result<(), ProjectionError> {
    let messages = tx
        .prepare_cached("UPDATE rm_messages SET content = NULL WHERE author_id = $1")
        .await?;
    tx.execute(&messages, &[&person]).await?;
    let titles = tx
        .prepare_cached("UPDATE rm_conversations SET title = $2 WHERE started_by = $1")
        .await?;
    tx.execute(&titles, &[&person, &zekka_event_store::personal_data::ERASED])
        .await?;
    Ok(())
}

/// One sent message, as `rm_messages` holds it.
struct Message {
    number: i64,
    message_id: uuid::Uuid,
    author_id: uuid::Uuid,
    role: String,
    agent_id: Option<uuid::Uuid>,
    content: String,
}

/// Sent messages gathered for one multi-row write, column by column, with
/// each conversation's new messages counted.
#[derive(Default)]
struct SentMessages {
    conversations: Vec<uuid::Uuid>,
    messages: Vec<Message>,
    created: Vec<chrono::DateTime<chrono::Utc>>,
    counts: std::collections::HashMap<uuid::Uuid, (i64, chrono::DateTime<chrono::Utc>)>,
}

impl SentMessages {
    /// Gathers `event` when it is a sent message (anything else is ignored).
    fn push_event(
        &mut self,
        conversation: uuid::Uuid,
        event: ConversationEvent,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        if let ConversationEvent::MessageSent {
            message_id,
            number,
            author_id,
            role,
            agent_id,
            content,
        } = event
        {
            self.push(
                conversation,
                Message {
                    number: i64::try_from(number).unwrap_or(i64::MAX),
                    message_id,
                    author_id,
                    role: role.as_str().to_owned(),
                    agent_id,
                    content,
                },
                at,
            );
        }
    }

    fn push(&mut self, conversation: uuid::Uuid, message: Message, at: chrono::DateTime<chrono::Utc>) {
        self.conversations.push(conversation);
        self.messages.push(message);
        self.created.push(at);
        let count = self.counts.entry(conversation).or_insert((0, at));
        *count = (count.0 + 1, at);
    }

    /// Writes what was gathered and starts again empty.
    async fn write(&mut self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(self);
        let numbers: Vec<i64> = batch.messages.iter().map(|m| m.number).collect();
        let ids: Vec<uuid::Uuid> = batch.messages.iter().map(|m| m.message_id).collect();
        let authors: Vec<uuid::Uuid> = batch.messages.iter().map(|m| m.author_id).collect();
        let roles: Vec<&str> = batch.messages.iter().map(|m| m.role.as_str()).collect();
        let agents: Vec<Option<uuid::Uuid>> = batch.messages.iter().map(|m| m.agent_id).collect();
        let contents: Vec<&str> = batch.messages.iter().map(|m| m.content.as_str()).collect();
        let insert = tx
            .prepare_cached(
                "INSERT INTO rm_messages
                    (conversation_id, number, message_id, author_id, role, agent_id, content, created_at)
                 SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::text[],
                                      $6::uuid[], $7::text[], $8::timestamptz[])",
            )
            .await?;
        tx.execute(
            &insert,
            &[
                &batch.conversations,
                &numbers,
                &ids,
                &authors,
                &roles,
                &agents,
                &contents,
                &batch.created,
            ],
        )
        .await?;
        let mut conversations = Vec::with_capacity(batch.counts.len());
        let mut counts = Vec::with_capacity(batch.counts.len());
        let mut last = Vec::with_capacity(batch.counts.len());
        for (id, (n, at)) in batch.counts {
            conversations.push(id);
            counts.push(n);
            last.push(at);
        }
        let count = tx
            .prepare_cached(
                "UPDATE rm_conversations c
                    SET message_count = c.message_count + u.n, last_message_at = u.at, updated_at = u.at
                   FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS u (id, n, at)
                  WHERE c.conversation_id = u.id",
            )
            .await?;
        tx.execute(&count, &[&conversations, &counts, &last]).await?;
        Ok(())
    }
}
