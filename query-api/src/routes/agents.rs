//! Agents: the list per project, one agent, its status and its activity.
//! Members of the agent's project only (others get 404).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;
use zekka_domain::project::Scope;
use zekka_event_store::lookups::activity;
use zekka_platform::Problem;
use zekka_platform::auth::{AgentAuth, BearerAuth};
use zekka_platform::input::TokenHeader;
use zekka_platform::input::{SequenceFormat, Text, UuidFormat};
use zekka_platform::policy::{self, Action};

use super::QueryTags;
use crate::paging;
use crate::rows;
use crate::state::QueryState;

/// Reading agents.
pub struct AgentQueryApi {
    state: Arc<QueryState>,
}

impl AgentQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// An agent.
#[derive(Debug, Object)]
struct AgentView {
    id: Uuid,
    project_id: Uuid,
    name: String,
    kind: String,
    stage: Option<String>,
    model: String,
    /// idle, working, blocked or offline.
    status: String,
    status_detail: String,
    current_task_id: Option<Uuid>,
    tasks_done: i64,
    tasks_failed: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One page of agents.
#[derive(Debug, Object)]
struct AgentPage {
    items: Vec<AgentView>,
    next_cursor: Option<String>,
}

/// An agent's status.
#[derive(Debug, Object)]
struct AgentStatusView {
    status: String,
    detail: String,
    current_task_id: Option<Uuid>,
    updated_at: DateTime<Utc>,
}

/// One event of an agent's history.
#[derive(Debug, Object)]
struct ActivityItem {
    /// The event's place in the agent's stream.
    sequence: i64,
    event_type: String,
    /// The event's fields.
    data: Value,
    /// Who caused it.
    actor: Option<String>,
    recorded_at: DateTime<Utc>,
}

/// One page of activity, newest first.
#[derive(Debug, Object)]
struct ActivityPage {
    items: Vec<ActivityItem>,
    next_cursor: Option<String>,
}

const AGENT_COLUMNS: &str = "a.agent_id, a.project_id, a.name, a.kind, a.stage, a.model, a.status,
     a.status_detail, a.current_task_id, a.tasks_done, a.tasks_failed, a.created_at, a.updated_at";

fn agent_view(row: &Row) -> Result<AgentView, tokio_postgres::Error> {
    Ok(AgentView {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        name: row.try_get(2)?,
        kind: row.try_get(3)?,
        stage: row.try_get(4)?,
        model: row.try_get(5)?,
        status: row.try_get(6)?,
        status_detail: row.try_get(7)?,
        current_task_id: row.try_get(8)?,
        tasks_done: row.try_get(9)?,
        tasks_failed: row.try_get(10)?,
        created_at: row.try_get(11)?,
        updated_at: row.try_get(12)?,
    })
}

impl AgentQueryApi {
    /// The agent, if the caller is a member of its project.
    async fn visible_agent(&self, user: Uuid, agent: Uuid) -> Result<AgentView, Problem> {
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {AGENT_COLUMNS} FROM rm_agents a
                   JOIN visible_projects($1) v ON v.project_id = a.project_id
                  WHERE a.agent_id = $2"
            ))
            .await
            .map_err(Problem::from_db)?;
        let row = client
            .query_opt(&statement, &[&user, &agent])
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("agent not found"))?;
        agent_view(&row).map_err(Problem::from_db)
    }
}

#[OpenApi(prefix_path = "/api/v1/agents", tag = "QueryTags::Agents")]
impl AgentQueryApi {
    /// Agents of the caller's projects (or of one), oldest first.
    #[oai(path = "/", method = "get", operation_id = "listAgents")]
    async fn list(
        &self,
        auth: BearerAuth,
        project_id: Query<Option<Uuid>>,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<UuidFormat>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<AgentPage>, Problem> {
        let limit = paging::limit(limit.0)?;
        let after = paging::uuid_cursor(cursor.0.as_deref())?;
        self.state
            .catch_up(
                auth.0.user_id,
                consistency_token.0.as_deref(),
                &["agents", "projects"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let views = rows::query_map(
            &client,
            &format!(
                "SELECT {AGENT_COLUMNS} FROM rm_agents a
                   JOIN visible_projects($1) v ON v.project_id = a.project_id
                  WHERE ($2::uuid IS NULL OR a.project_id = $2)
                    AND ($3::uuid IS NULL OR a.agent_id > $3)
                  ORDER BY a.agent_id LIMIT $4"
            ),
            &[&auth.0.user_id, &project_id.0, &after, &(limit + 1)],
            agent_view,
        )
        .await?;
        let (items, next_cursor) = paging::page(views, limit, |a| a.id.to_string());
        Ok(Json(AgentPage { items, next_cursor }))
    }

    /// One agent.
    #[oai(path = "/:id", method = "get", operation_id = "getAgent")]
    async fn get(
        &self,
        auth: AgentAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<AgentView>, Problem> {
        self.state
            .catch_up(
                auth.0.acting_user(),
                consistency_token.0.as_deref(),
                &["agents", "projects"],
            )
            .await?;
        let agent = self.visible_agent(auth.0.acting_user(), id.0).await?;
        policy::authorize(&auth.0, Action::in_project(Scope::Read, agent.project_id))?;
        Ok(Json(agent))
    }

    /// The agent's status.
    #[oai(path = "/:id/status", method = "get", operation_id = "getAgentStatus")]
    async fn status(
        &self,
        auth: AgentAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<AgentStatusView>, Problem> {
        self.state
            .catch_up(
                auth.0.acting_user(),
                consistency_token.0.as_deref(),
                &["agents", "projects"],
            )
            .await?;
        let agent = self.visible_agent(auth.0.acting_user(), id.0).await?;
        policy::authorize(&auth.0, Action::in_project(Scope::Read, agent.project_id))?;
        Ok(Json(AgentStatusView {
            status: agent.status,
            detail: agent.status_detail,
            current_task_id: agent.current_task_id,
            updated_at: agent.updated_at,
        }))
    }

    /// The agent's own event history, newest first, read from the event store.
    #[oai(path = "/:id/activity", method = "get", operation_id = "getAgentActivity")]
    async fn activity(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<SequenceFormat>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ActivityPage>, Problem> {
        let limit = paging::limit(limit.0)?;
        let before: Option<i64> = cursor
            .0
            .as_deref()
            .map(|c| {
                c.parse()
                    .ok()
                    .filter(|n: &i64| *n >= 0)
                    .ok_or_else(|| Problem::bad_request("cursor is not one this server issued"))
            })
            .transpose()?;
        self.state
            .catch_up(
                auth.0.user_id,
                consistency_token.0.as_deref(),
                &["agents", "projects"],
            )
            .await?;
        self.visible_agent(auth.0.user_id, id.0).await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let agent_id = id.0.to_string();
        let items = activity::newest_first(&client, "Agent", &agent_id, before, limit + 1)
            .await?
            .into_iter()
            .map(|event| ActivityItem {
                sequence: event.sequence,
                event_type: event.event_type,
                data: event.data,
                actor: event.actor,
                recorded_at: event.recorded_at,
            })
            .collect();
        let (items, next_cursor) = paging::page(items, limit, |a| a.sequence.to_string());
        Ok(Json(ActivityPage { items, next_cursor }))
    }
}
