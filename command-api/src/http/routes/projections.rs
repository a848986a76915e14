//! Operators (system admins) on projections:
//! `POST /api/v1/projections/{name}/rebuild` asks for a projection to be
//! rebuilt from the events (a projector process picks the request up; the
//! old model keeps serving until the new one is complete,
//! `zekka_projectors::rebuild`), and `POST /api/v1/projections/{name}/skips`
//! has it pass over an event it cannot apply (`crate::app::operations`).

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use zekka_domain::projection::SkipReason;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Prose, Segment, Text};
use zekka_platform::policy::{self, Action};

use super::CommandTags;
use crate::app::operations;
use crate::app::state::CommandState;
use crate::http;

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

/// An event to pass over.
#[derive(Debug, Object)]
struct SkipRequest {
    /// The event's global position (`error.position` of the failing
    /// projection in `GET /api/v1/projections`).
    position: i64,
    /// Why it is skipped, for the audit history.
    reason: Text<Prose<{ SkipReason::MAX_CHARS }>>,
}

/// The skip, as recorded.
#[derive(Debug, Object)]
struct SkipView {
    projection: String,
    position: i64,
    event_type: String,
    reason: String,
    skipped_by: String,
    consistency_token: String,
}

#[derive(ApiResponse)]
enum SkipCreated {
    /// Recorded as a `ProjectionEventSkipped` event; the projection passes
    /// over the event within seconds.
    #[oai(status = 201)]
    Created(Json<SkipView>, #[oai(header = "X-Consistency-Token")] String),
}

#[OpenApi(prefix_path = "/api/v1/projections", tag = "CommandTags::Operations")]
impl ProjectionCommandApi {
    /// Rebuild a projection from the events without downtime (system admins).
    #[oai(path = "/:name/rebuild", method = "post", operation_id = "rebuildProjection")]
    async fn rebuild(&self, auth: BearerAuth, name: Path<Text<Segment>>) -> Result<RebuildAccepted, Problem> {
        policy::authorize_person(&auth.0, Action::OperateProjections)?;
        let known: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM projection_checkpoints WHERE name = $1 AND name NOT LIKE '%@rebuild'",
        )
        .bind(name.0.as_str())
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
        .bind(name.0.as_str())
        .fetch_one(&self.state.pool)
        .await
        .map_err(Problem::from_sqlx)?;
        tracing::info!(projection = name.0.as_str(), %status, "rebuild requested");
        Ok(RebuildAccepted::Accepted(Json(RebuildRequested {
            name: name.0.into_string(),
            status,
        })))
    }

    /// Skip an event a projection cannot apply (system admins): the
    /// projection passes over it from now on, in every rebuild too, and the
    /// audit history records who skipped it and why.
    #[oai(path = "/:name/skips", method = "post", operation_id = "skipProjectionEvent")]
    async fn skip(
        &self,
        req: &Request,
        auth: BearerAuth,
        name: Path<Text<Segment>>,
        body: Json<SkipRequest>,
    ) -> Result<SkipCreated, Problem> {
        policy::authorize_person(&auth.0, Action::OperateProjections)?;
        let actor = auth.0.user_id;
        let context = http::context(req, Some(actor));
        let skip = operations::skip_event(
            &self.state,
            &name.0,
            body.position,
            &body.reason,
            format!("user:{actor}"),
            &context,
        )
        .await?;
        let token = skip.consistency_token.to_string();
        Ok(SkipCreated::Created(
            Json(SkipView {
                projection: skip.projection,
                position: skip.position,
                event_type: skip.event_type,
                reason: skip.reason,
                skipped_by: skip.skipped_by,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }
}
