//! Facts about one message of a conversation, read in one statement.

use deadpool_postgres::GenericClient;
use uuid::Uuid;
use zekka_domain::conversation::MessageFacts;

use crate::error::StoreError;

/// Who wrote `message_id` and whether it was deleted, with the
/// conversation's version at the time of reading (one statement, one
/// snapshot). `None` when the conversation has no such message.
///
/// # Errors
/// When the query fails or the message names no author.
pub async fn message_facts(
    client: &impl GenericClient,
    conversation_id: Uuid,
    message_id: Uuid,
) -> Result<Option<MessageFacts>, StoreError> {
    let statement = client
        .prepare_cached(
            "WITH facts AS (
                 SELECT event_type, payload FROM events
                  WHERE aggregate_type = 'Conversation' AND aggregate_id = $1
                    AND (payload -> event_type ->> 'message_id') = $2
             )
             SELECT (SELECT max(sequence) FROM events
                      WHERE aggregate_type = 'Conversation' AND aggregate_id = $1),
                    (SELECT (payload -> 'MessageSent' ->> 'author_id')::uuid FROM facts
                      WHERE event_type = 'MessageSent' LIMIT 1),
                    EXISTS (SELECT 1 FROM facts WHERE event_type = 'MessageDeleted')",
        )
        .await?;
    let row = client
        .query_one(
            &statement,
            &[&conversation_id.to_string(), &message_id.to_string()],
        )
        .await?;
    let version: Option<i64> = row.try_get(0)?;
    let author: Option<Uuid> = row.try_get(1)?;
    let (Some(version), Some(author_id)) = (version, author) else {
        return Ok(None);
    };
    Ok(Some(MessageFacts {
        author_id,
        deleted: row.try_get(2)?,
        as_of_version: u64::try_from(version).unwrap_or(0),
    }))
}
