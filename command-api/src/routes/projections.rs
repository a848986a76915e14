//! `POST /api/v1/projections/{name}/rebuild`: operators (system admins) ask
//! for a projection to be rebuilt from the events. A projector process
//! picks the request up; the old model keeps serving until the new one is
//! complete (`zekka_projectors::rebuild`).

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;

use super::CommandTags;
use crate::state::CommandState;

/// Rebuilding projections.
pub struct ProjectionCommandApi {
    state: Arc<CommandState>,
}

impl ProjectionCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// The rebuild asked for.
#[derive(Debug, Object)]
struct RebuildRequested {
    name: String,
    /// `requested`, or `running` when a rebuild was already under way.
    status: String,
}

#[derive(ApiResponse)]
enum RebuildAccepted {
    /// A projector process will rebuild it; follow it with `GET /api/v1/projections`.
    #[oai(status = 202)]
    Accepted(Json<RebuildRequested>),
}

#[OpenApi(prefix_path = "/api/v1/projections", tag = "CommandTags::Operations")]
impl ProjectionCommandApi {
    /// Rebuild a projection from the events without downtime (system admins).
    #[oai(path = "/:name/rebuild", method = "post", operation_id = "rebuildProjection")]
    async fn rebuild(&self, auth: BearerAuth, name: Path<String>) -> Result<RebuildAccepted, Problem> {
        if !auth.0.has_role("admin") {
            return Err(Problem::forbidden("only system admins may rebuild projections"));
        }
        let known: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM projection_checkpoints WHERE name = $1 AND name NOT LIKE '%@rebuild'",
        )
        .bind(&name.0)
        .fetch_optional(&self.state.pool)
        .await
        .map_err(Problem::from_sqlx)?;
        if known.is_none() {
            return Err(Problem::not_found("no such projection"));
        }
        // A rebuild that is running (its heartbeat is fresh) stays as it is;
        // anything else becomes a request (an interrupted one resumes).
        let status: String = sqlx::query_scalar(
            "INSERT INTO projection_rebuilds (name, status) VALUES ($1, 'requested')
             ON CONFLICT (name) DO UPDATE
                SET status = CASE WHEN projection_rebuilds.status = 'running'
                                   AND projection_rebuilds.updated_at > now() - interval '30 seconds'
                                  THEN 'running' ELSE 'requested' END,
                    requested_at = CASE WHEN projection_rebuilds.status = 'running'
                                         AND projection_rebuilds.updated_at > now() - interval '30 seconds'
                                        THEN projection_rebuilds.requested_at ELSE now() END,
                    updated_at = CASE WHEN projection_rebuilds.status = 'running'
                                       AND projection_rebuilds.updated_at > now() - interval '30 seconds'
                                      THEN projection_rebuilds.updated_at ELSE now() END
             RETURNING status",
        )
        .bind(&name.0)
        .fetch_one(&self.state.pool)
        .await
        .map_err(Problem::from_sqlx)?;
        tracing::info!(projection = %name.0, %status, "rebuild requested");
        Ok(RebuildAccepted::Accepted(Json(RebuildRequested {
            name: name.0,
            status,
        })))
    }
}
