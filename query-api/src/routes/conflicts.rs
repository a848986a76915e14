//! The conflict queue, members of the project only (others get 404).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tokio_postgres::Row;
use uuid::Uuid;
use zekka_domain::Named;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::TokenHeader;
use zekka_platform::input::{OneOf, Text, UuidFormat};

use super::QueryTags;
use crate::paging;
use crate::rows;
use crate::state::QueryState;

/// Reading conflicts.
pub struct ConflictQueryApi {
    state: Arc<QueryState>,
}

impl ConflictQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// A conflict.
#[derive(Debug, Object)]
struct ConflictView {
    id: Uuid,
    project_id: Uuid,
    /// code, design, requirement or resource.
    kind: String,
    description: String,
    agent_ids: Vec<Uuid>,
    file_path: Option<String>,
    /// open, escalated or resolved.
    status: String,
    strategy: Option<String>,
    resolution: Option<String>,
    resolved_by_model: Option<String>,
    escalation_reason: Option<String>,
    reported_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    escalated_at: Option<DateTime<Utc>>,
}

/// One page of conflicts.
#[derive(Debug, Object)]
struct ConflictPage {
    items: Vec<ConflictView>,
    next_cursor: Option<String>,
}

const COLUMNS: &str = "c.conflict_id, c.project_id, c.kind, c.description, c.agent_ids, c.file_path, c.status,
     c.strategy, c.resolution, c.resolved_by_model, c.escalation_reason, c.reported_at, c.resolved_at, c.escalated_at";

fn conflict_view(row: &Row) -> Result<ConflictView, tokio_postgres::Error> {
    Ok(ConflictView {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        kind: row.try_get(2)?,
        description: row.try_get(3)?,
        agent_ids: row.try_get(4)?,
        file_path: row.try_get(5)?,
        status: row.try_get(6)?,
        strategy: row.try_get(7)?,
        resolution: row.try_get(8)?,
        resolved_by_model: row.try_get(9)?,
        escalation_reason: row.try_get(10)?,
        reported_at: row.try_get(11)?,
        resolved_at: row.try_get(12)?,
        escalated_at: row.try_get(13)?,
    })
}

/// The states `?status=` can ask for.
#[derive(Debug, Clone, Copy, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
enum StatusFilter {
    Open,
    Resolved,
    Escalated,
}

impl Named for StatusFilter {
    const FIELD: &'static str = "status";
}

#[OpenApi(prefix_path = "/api/v1/conflicts", tag = "QueryTags::Conflicts")]
impl ConflictQueryApi {
    /// Conflicts of the caller's projects (or of one), optionally by status, oldest first.
    #[oai(path = "/", method = "get", operation_id = "listConflicts")]
    async fn list(
        &self,
        auth: BearerAuth,
        project_id: Query<Option<Uuid>>,
        status: Query<Option<Text<OneOf<StatusFilter>>>>,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<UuidFormat>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ConflictPage>, Problem> {
        let limit = paging::limit(limit.0)?;
        if let Some(status) = status.0.as_deref() {
            StatusFilter::from_name(status).map_err(Problem::invalid_field)?;
        }
        let after = paging::uuid_cursor(cursor.0.as_deref())?;
        self.state
            .catch_up(
                auth.0.user_id,
                consistency_token.0.as_deref(),
                &["conflicts", "projects"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let views = rows::query_map(
            &client,
            &format!(
                "SELECT {COLUMNS} FROM rm_conflicts c
                   JOIN visible_projects($1) v ON v.project_id = c.project_id
                  WHERE ($2::uuid IS NULL OR c.project_id = $2)
                    AND ($3::text IS NULL OR c.status = $3)
                    AND ($4::uuid IS NULL OR c.conflict_id > $4)
                  ORDER BY c.conflict_id LIMIT $5"
            ),
            &[
                &auth.0.user_id,
                &project_id.0,
                &status.0.as_deref(),
                &after,
                &(limit + 1),
            ],
            conflict_view,
        )
        .await?;
        let (items, next_cursor) = paging::page(views, limit, |c| c.id.to_string());
        Ok(Json(ConflictPage { items, next_cursor }))
    }

    /// One conflict.
    #[oai(path = "/:id", method = "get", operation_id = "getConflict")]
    async fn get(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<ConflictView>, Problem> {
        self.state
            .catch_up(
                auth.0.user_id,
                consistency_token.0.as_deref(),
                &["conflicts", "projects"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM rm_conflicts c
                   JOIN visible_projects($1) v ON v.project_id = c.project_id
                  WHERE c.conflict_id = $2"
            ))
            .await
            .map_err(Problem::from_db)?;
        let row = client
            .query_opt(&statement, &[&auth.0.user_id, &id.0])
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("conflict not found"))?;
        Ok(Json(conflict_view(&row).map_err(Problem::from_db)?))
    }
}
