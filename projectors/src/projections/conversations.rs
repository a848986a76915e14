//! `conversations`: conversations per project (`rm_conversations`, with
//! message counts) and their messages (`rm_messages`, content dropped on delete).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::conversation::ConversationEvent;
use zekka_platform::event_log::StoredEvent;

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
            ConversationEvent::MessageSent {
                message_id,
                number,
                author_id,
                role,
                agent_id,
                content,
            } => {
                let number = i64::try_from(number).unwrap_or(i64::MAX);
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_messages
                            (conversation_id, number, message_id, author_id, role, agent_id, content, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &conversation_id,
                        &number,
                        &message_id,
                        &author_id,
                        &role.as_str(),
                        &agent_id,
                        &content,
                        at,
                    ],
                )
                .await?;
                let count = tx
                    .prepare_cached(
                        "UPDATE rm_conversations
                            SET message_count = message_count + 1, last_message_at = $2, updated_at = $2
                          WHERE conversation_id = $1",
                    )
                    .await?;
                tx.execute(&count, &[&conversation_id, at]).await?;
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
    tx.execute(&titles, &[&person, &zekka_platform::personal_data::ERASED])
        .await?;
    Ok(())
}
