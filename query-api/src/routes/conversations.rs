//! Conversations and messages, members of the project only (others get 404).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tokio_postgres::Row;
use uuid::Uuid;
use zekka_domain::project::Scope;
use zekka_platform::Problem;
use zekka_platform::auth::{AgentAuth, BearerAuth};
use zekka_platform::input::TokenHeader;
use zekka_platform::input::{SequenceFormat, Text, UuidFormat};
use zekka_platform::policy::{self, Action};

use super::QueryTags;
use crate::paging;
use crate::rows;
use crate::state::QueryState;

/// Reading conversations and messages.
pub struct ConversationQueryApi {
    state: Arc<QueryState>,
}

impl ConversationQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// A conversation.
#[derive(Debug, Object)]
struct ConversationView {
    id: Uuid,
    project_id: Uuid,
    title: String,
    started_by: Uuid,
    /// `active` or `archived`.
    status: String,
    message_count: i64,
    last_message_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One page of conversations.
#[derive(Debug, Object)]
struct ConversationPage {
    items: Vec<ConversationView>,
    next_cursor: Option<String>,
}

/// A message; a deleted one keeps its place with no content.
#[derive(Debug, Object)]
struct MessageView {
    id: Uuid,
    conversation_id: Uuid,
    /// Its place in the conversation, from 1.
    number: i64,
    author_id: Uuid,
    /// `user`, `agent` or `system`.
    role: String,
    agent_id: Option<Uuid>,
    /// `null` once deleted.
    content: Option<String>,
    deleted: bool,
    edited_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// One page of messages, oldest first.
#[derive(Debug, Object)]
struct MessagePage {
    items: Vec<MessageView>,
    next_cursor: Option<String>,
}

const CONVERSATION_COLUMNS: &str = "c.conversation_id, c.project_id, c.title, c.started_by, c.status,
     c.message_count, c.last_message_at, c.created_at, c.updated_at";

fn conversation_view(row: &Row) -> Result<ConversationView, tokio_postgres::Error> {
    Ok(ConversationView {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        title: row.try_get(2)?,
        started_by: row.try_get(3)?,
        status: row.try_get(4)?,
        message_count: row.try_get(5)?,
        last_message_at: row.try_get(6)?,
        created_at: row.try_get(7)?,
        updated_at: row.try_get(8)?,
    })
}

fn message_view(row: &Row) -> Result<MessageView, tokio_postgres::Error> {
    let deleted_at: Option<DateTime<Utc>> = row.try_get(8)?;
    Ok(MessageView {
        id: row.try_get(0)?,
        conversation_id: row.try_get(1)?,
        number: row.try_get(2)?,
        author_id: row.try_get(3)?,
        role: row.try_get(4)?,
        agent_id: row.try_get(5)?,
        content: row.try_get(6)?,
        edited_at: row.try_get(7)?,
        deleted: deleted_at.is_some(),
        created_at: row.try_get(9)?,
    })
}

#[OpenApi(prefix_path = "/api/v1/conversations", tag = "QueryTags::Conversations")]
impl ConversationQueryApi {
    /// Conversations the caller can see, optionally of one project, oldest first.
    #[oai(path = "/", method = "get", operation_id = "listConversations")]
    async fn list(
        &self,
        auth: BearerAuth,
        project_id: Query<Option<Uuid>>,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<UuidFormat>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ConversationPage>, Problem> {
        let limit = paging::limit(limit.0)?;
        let after = paging::uuid_cursor(cursor.0.as_deref())?;
        self.state
            .catch_up(
                auth.0.user_id,
                consistency_token.0.as_deref(),
                &["conversations", "projects"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let views = rows::query_map(
            &client,
            &format!(
                "SELECT {CONVERSATION_COLUMNS}
                   FROM rm_conversations c
                   JOIN visible_projects($1) v ON v.project_id = c.project_id
                  WHERE ($2::uuid IS NULL OR c.project_id = $2)
                    AND ($3::uuid IS NULL OR c.conversation_id > $3)
                  ORDER BY c.conversation_id
                  LIMIT $4"
            ),
            &[&auth.0.user_id, &project_id.0, &after, &(limit + 1)],
            conversation_view,
        )
        .await?;
        let (items, next_cursor) = paging::page(views, limit, |c| c.id.to_string());
        Ok(Json(ConversationPage { items, next_cursor }))
    }

    /// One conversation.
    #[oai(path = "/:id", method = "get", operation_id = "getConversation")]
    async fn get(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ConversationView>, Problem> {
        self.state
            .catch_up(
                auth.0.user_id,
                consistency_token.0.as_deref(),
                &["conversations", "projects"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {CONVERSATION_COLUMNS}
                   FROM rm_conversations c
                   JOIN visible_projects($1) v ON v.project_id = c.project_id
                  WHERE c.conversation_id = $2"
            ))
            .await
            .map_err(Problem::from_db)?;
        let row = client
            .query_opt(&statement, &[&auth.0.user_id, &id.0])
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("conversation not found"))?;
        Ok(Json(conversation_view(&row).map_err(Problem::from_db)?))
    }

    /// A conversation's messages, oldest first. The cursor is a message
    /// number: pages stay stable while new messages arrive.
    #[oai(path = "/:id/messages", method = "get", operation_id = "listMessages")]
    async fn messages(
        &self,
        auth: AgentAuth,
        id: Path<Uuid>,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<SequenceFormat>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<MessagePage>, Problem> {
        let limit = paging::limit(limit.0)?;
        let after: i64 = match cursor.0.as_deref() {
            Some(c) => c
                .parse()
                .ok()
                .filter(|n: &i64| *n >= 0)
                .ok_or_else(|| Problem::bad_request("cursor is not one this server issued"))?,
            None => 0,
        };
        self.state
            .catch_up(
                auth.0.acting_user(),
                consistency_token.0.as_deref(),
                &["conversations", "projects"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let visible = client
            .prepare_cached(
                "SELECT c.project_id FROM rm_conversations c
                   JOIN visible_projects($1) v ON v.project_id = c.project_id
                  WHERE c.conversation_id = $2",
            )
            .await
            .map_err(Problem::from_db)?;
        let project: Uuid = client
            .query_opt(&visible, &[&auth.0.acting_user(), &id.0])
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("conversation not found"))?
            .try_get(0)
            .map_err(Problem::from_db)?;
        policy::authorize(&auth.0, Action::in_project(Scope::Read, project))?;
        let views = rows::query_map(
            &client,
            "SELECT message_id, conversation_id, number, author_id, role, agent_id, content,
                        edited_at, deleted_at, created_at
                   FROM rm_messages
                  WHERE conversation_id = $1 AND number > $2
                  ORDER BY number
                  LIMIT $3",
            &[&id.0, &after, &(limit + 1)],
            message_view,
        )
        .await?;
        let (items, next_cursor) = paging::page(views, limit, |m| m.number.to_string());
        Ok(Json(MessagePage { items, next_cursor }))
    }
}
