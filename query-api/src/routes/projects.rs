//! `GET /api/v1/projects` and `GET /api/v1/projects/{id}`: members only;
//! anyone else is told the project does not exist.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use rust_decimal::Decimal;
use tokio_postgres::Row;
use uuid::Uuid;
use zekka_domain::project::Scope;
use zekka_event_store::database::CachedQueries;
use zekka_platform::auth::{AgentAuth, BearerAuth};
use zekka_platform::input::TokenHeader;
use zekka_platform::input::{Text, UuidFormat};
use zekka_platform::policy::{self, Action};
use zekka_platform::{Problem, money};

use super::QueryTags;
use crate::paging;
use crate::rows;
use crate::state::QueryState;
use crate::visibility;

/// Reading projects.
pub struct ProjectQueryApi {
    state: Arc<QueryState>,
}

impl ProjectQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// A project as its members see it.
#[derive(Debug, Object)]
struct ProjectView {
    id: Uuid,
    name: String,
    description: String,
    owner_id: Uuid,
    /// USD, six decimals; `null` when the project has no budget.
    budget_usd: Option<String>,
    /// USD, six decimals.
    spent_usd: String,
    stage: String,
    /// `active` or `archived`.
    status: String,
    /// The caller's role in the project.
    my_role: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A project's statistics.
#[derive(Debug, Object)]
struct ProjectStats {
    conversations: i64,
    messages: i64,
    members: i64,
    agents: i64,
    tasks_open: i64,
    tasks_done: i64,
    tokens_input: i64,
    tokens_output: i64,
    /// USD, six decimals.
    cost_usd: String,
    /// Conflicts not yet resolved (open or escalated).
    conflicts_open: i64,
    conflicts_resolved: i64,
    /// Conflicts handed to a person and not yet resolved.
    conflicts_escalated: i64,
    /// Share of resolved conflicts settled without a person (any strategy
    /// but `manual`), 0 to 1 with six decimals; `null` before any is resolved.
    conflict_auto_resolution_rate: Option<String>,
    stage: String,
}

/// One page of projects.
#[derive(Debug, Object)]
struct ProjectPage {
    items: Vec<ProjectView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

const PROJECT_COLUMNS: &str = "p.project_id, p.name, p.description, p.owner_id, p.budget_usd, p.spent_usd,
     p.stage, p.status, v.role, p.created_at, p.updated_at";

fn project_view(row: &Row) -> Result<ProjectView, tokio_postgres::Error> {
    Ok(ProjectView {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        owner_id: row.try_get(3)?,
        budget_usd: row.try_get::<_, Option<Decimal>>(4)?.map(money::to_wire),
        spent_usd: money::to_wire(row.try_get(5)?),
        stage: row.try_get(6)?,
        status: row.try_get(7)?,
        my_role: row.try_get(8)?,
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
    })
}

/// A file lock held now.
#[derive(Debug, Object)]
struct LockView {
    lock_id: Uuid,
    file_path: String,
    agent_id: Uuid,
    fencing_token: i64,
    expires_at: DateTime<Utc>,
}

/// The locks held now (one page).
#[derive(Debug, Object)]
struct LockPage {
    items: Vec<LockView>,
    next_cursor: Option<String>,
}

/// An API key as its project's managers see it.
#[derive(Debug, Object)]
struct ApiKeyView {
    id: Uuid,
    name: String,
    scopes: Vec<String>,
    agent_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

/// A project's active API keys (at most 50: one page).
#[derive(Debug, Object)]
struct ApiKeyPage {
    items: Vec<ApiKeyView>,
    next_cursor: Option<String>,
}

#[OpenApi(prefix_path = "/api/v1/projects", tag = "QueryTags::Projects")]
impl ProjectQueryApi {
    /// The projects the caller is a member of, oldest first. Archived
    /// projects are left out unless `include_archived=true`.
    #[oai(path = "/", method = "get", operation_id = "listProjects")]
    async fn list(
        &self,
        auth: BearerAuth,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<UuidFormat>>>,
        include_archived: Query<Option<bool>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ProjectPage>, Problem> {
        let limit = paging::limit(limit.0)?;
        let after = paging::uuid_cursor(cursor.0.as_deref())?;
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &["projects"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let views = rows::query_map(
            &client,
            &format!(
                "SELECT {PROJECT_COLUMNS}
                   FROM visible_projects($1) v JOIN rm_projects p USING (project_id)
                  WHERE ($2::uuid IS NULL OR p.project_id > $2)
                    AND ($3 OR p.status <> 'archived')
                  ORDER BY p.project_id
                  LIMIT $4"
            ),
            &[
                &auth.0.user_id,
                &after,
                &include_archived.0.unwrap_or(false),
                &(limit + 1),
            ],
            project_view,
        )
        .await?;
        let (items, next_cursor) = paging::page(views, limit, |p| p.id.to_string());
        Ok(Json(ProjectPage { items, next_cursor }))
    }

    /// One project, if the caller is a member.
    #[oai(path = "/:id", method = "get", operation_id = "getProject")]
    async fn get(
        &self,
        auth: AgentAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ProjectView>, Problem> {
        policy::authorize(&auth.0, Action::in_project(Scope::Read, id.0))?;
        self.state
            .catch_up(
                auth.0.acting_user(),
                consistency_token.0.as_deref(),
                &["projects"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {PROJECT_COLUMNS}
                   FROM visible_projects($1) v JOIN rm_projects p USING (project_id)
                  WHERE p.project_id = $2"
            ))
            .await
            .map_err(Problem::from_db)?;
        let row = client
            .query_opt(&statement, &[&auth.0.acting_user(), &id.0])
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("project not found"))?;
        Ok(Json(project_view(&row).map_err(Problem::from_db)?))
    }

    /// The project's active API keys (owner or admin); never the keys
    /// themselves. `last_used_at` trails use by a few seconds.
    #[oai(path = "/:id/api-keys", method = "get", operation_id = "listApiKeys")]
    async fn api_keys(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ApiKeyPage>, Problem> {
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &["projects"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        visibility::manager(&client, auth.0.user_id, id.0, "API keys").await?;
        let items = rows::query_map(
            &client,
            "SELECT k.key_id, k.name, k.scopes, k.agent_id, k.created_at, u.last_used_at
               FROM rm_api_keys k LEFT JOIN api_key_usage u USING (key_id)
              WHERE k.project_id = $1 AND k.revoked_at IS NULL
              ORDER BY k.created_at, k.key_id",
            &[&id.0],
            |r| {
                Ok(ApiKeyView {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    scopes: r.try_get(2)?,
                    agent_id: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    last_used_at: r.try_get(5)?,
                })
            },
        )
        .await?;
        Ok(Json(ApiKeyPage {
            items,
            next_cursor: None,
        }))
    }

    /// The file locks held now on the project's context bus, by path. A key
    /// needs `read` or `locks:write`.
    #[oai(path = "/:id/locks", method = "get", operation_id = "listLocks")]
    async fn locks(
        &self,
        auth: AgentAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<LockPage>, Problem> {
        let principal = &auth.0;
        if policy::authorize(principal, Action::in_project(Scope::Read, id.0)).is_err() {
            policy::authorize(principal, Action::in_project(Scope::LocksWrite, id.0))?;
        }
        // Membership comes from the projects model: a token waits for it.
        self.state
            .catch_up(
                principal.acting_user(),
                consistency_token.0.as_deref(),
                &["projects"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let member = client
            .query_opt_cached(
                "SELECT 1 FROM visible_projects($2) WHERE project_id = $1",
                &[&id.0, &principal.acting_user()],
            )
            .await
            .map_err(Problem::from_db)?;
        if member.is_none() {
            return Err(Problem::not_found("project not found"));
        }
        let items = self
            .state
            .locks
            .held(id.0)
            .await
            .map_err(|e| Problem::unavailable(e.to_string(), 2))?
            .into_iter()
            .map(|lock| LockView {
                lock_id: lock.lock_id,
                file_path: lock.file_path,
                agent_id: lock.agent_id,
                fencing_token: lock.fencing_token,
                expires_at: lock.expires_at,
            })
            .collect();
        Ok(Json(LockPage {
            items,
            next_cursor: None,
        }))
    }

    /// A project's statistics, if the caller is a member.
    #[oai(path = "/:id/stats", method = "get", operation_id = "getProjectStats")]
    async fn stats(
        &self,
        auth: AgentAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ProjectStats>, Problem> {
        policy::authorize(&auth.0, Action::in_project(Scope::Read, id.0))?;
        self.state
            .catch_up(
                auth.0.acting_user(),
                consistency_token.0.as_deref(),
                &["projects", "conversations", "agents", "usage", "conflicts"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let statement = client
            .prepare_cached(
                "SELECT p.stage,
                        (SELECT count(*) FROM rm_project_members WHERE project_id = p.project_id),
                        (SELECT count(*) FROM rm_conversations WHERE project_id = p.project_id),
                        (SELECT coalesce(sum(message_count), 0)::bigint FROM rm_conversations
                          WHERE project_id = p.project_id),
                        (SELECT count(*) FROM rm_agents WHERE project_id = p.project_id),
                        (SELECT count(*) FILTER (WHERE outcome = 'open') FROM rm_tasks WHERE project_id = p.project_id),
                        (SELECT count(*) FILTER (WHERE outcome = 'succeeded') FROM rm_tasks
                          WHERE project_id = p.project_id),
                        (SELECT coalesce(sum(input_tokens), 0)::bigint FROM rm_usage_daily WHERE project_id = p.project_id),
                        (SELECT coalesce(sum(output_tokens), 0)::bigint FROM rm_usage_daily WHERE project_id = p.project_id),
                        (SELECT coalesce(sum(cost_usd), 0) FROM rm_usage_daily WHERE project_id = p.project_id),
                        c.open, c.resolved, c.escalated, c.automatic
                   FROM rm_projects p
                   CROSS JOIN LATERAL (
                        SELECT count(*) FILTER (WHERE status <> 'resolved') AS open,
                               count(*) FILTER (WHERE status = 'resolved') AS resolved,
                               count(*) FILTER (WHERE status = 'escalated') AS escalated,
                               count(*) FILTER (WHERE status = 'resolved' AND strategy <> 'manual') AS automatic
                          FROM rm_conflicts WHERE project_id = p.project_id) c
                   JOIN visible_projects($1) v ON v.project_id = p.project_id
                  WHERE p.project_id = $2",
            )
            .await
            .map_err(Problem::from_db)?;
        let row = client
            .query_opt(&statement, &[&auth.0.acting_user(), &id.0])
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("project not found"))?;
        let resolved: i64 = row.try_get(11).map_err(Problem::from_db)?;
        let automatic: i64 = row.try_get(13).map_err(Problem::from_db)?;
        Ok(Json(ProjectStats {
            stage: row.try_get(0).map_err(Problem::from_db)?,
            members: row.try_get(1).map_err(Problem::from_db)?,
            conversations: row.try_get(2).map_err(Problem::from_db)?,
            messages: row.try_get(3).map_err(Problem::from_db)?,
            agents: row.try_get(4).map_err(Problem::from_db)?,
            tasks_open: row.try_get(5).map_err(Problem::from_db)?,
            tasks_done: row.try_get(6).map_err(Problem::from_db)?,
            tokens_input: row.try_get(7).map_err(Problem::from_db)?,
            tokens_output: row.try_get(8).map_err(Problem::from_db)?,
            cost_usd: money::to_wire(row.try_get::<_, Decimal>(9).map_err(Problem::from_db)?),
            conflicts_open: row.try_get(10).map_err(Problem::from_db)?,
            conflicts_resolved: resolved,
            conflicts_escalated: row.try_get(12).map_err(Problem::from_db)?,
            conflict_auto_resolution_rate: money::share(automatic, resolved),
        }))
    }
}
