//! `GET /api/v1/projections`: every projection's position, lag, health and
//! rebuild, for operators (system admins).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use zekka_domain::projection::{Projection, ProjectionEvent};
use zekka_event_store::event_log::{self, Position};
use zekka_event_store::lookups::streams;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::policy::{self, Action};

use super::QueryTags;
use crate::rows;
use crate::state::QueryState;

/// Reading the projections' state.
pub struct ProjectionQueryApi {
    state: Arc<QueryState>,
}

impl ProjectionQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// The event a failing projection cannot apply.
#[derive(Debug, Object)]
struct ProjectionFailure {
    /// Its global position (`null` when the failure is not one event's).
    position: Option<i64>,
    event_type: Option<String>,
    message: String,
    since: Option<DateTime<Utc>>,
}

/// A rebuild's progress or outcome.
#[derive(Debug, Object)]
struct RebuildView {
    /// requested, running, interrupted, completed or failed.
    status: String,
    done: i64,
    total: i64,
    requested_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    /// Tables whose rebuilt rows differed from the live ones (a finding).
    differences: Option<Value>,
    /// Events the rebuild passed over because operators skipped them
    /// (`[{position, event_type, reason, skipped_by}]`).
    skipped: Option<Value>,
    error: Option<String>,
}

/// An event the projection passes over because an operator skipped it.
#[derive(Debug, Object)]
struct SkippedEventView {
    /// Its global position.
    position: i64,
    event_type: String,
    reason: String,
    /// `user:<id>` (through the API) or `cli:<name>` (`zekka projections skip`).
    skipped_by: String,
    skipped_at: DateTime<Utc>,
}

/// One projection.
#[derive(Debug, Object)]
struct ProjectionView {
    name: String,
    /// Global position of the last event applied.
    position: i64,
    events_applied: i64,
    /// Committed events not applied yet.
    lag_events: i64,
    /// How long the oldest of them has waited.
    lag_seconds: f64,
    /// running, failed or rebuilding.
    status: String,
    error: Option<ProjectionFailure>,
    /// Present while a rebuild is requested or running.
    rebuilding: Option<RebuildView>,
    /// The latest rebuild that ended.
    last_rebuild: Option<RebuildView>,
    /// Events it passes over because operators skipped them, oldest first.
    skipped: Vec<SkippedEventView>,
    updated_at: DateTime<Utc>,
}

/// A running rebuild whose heartbeat is older than this was interrupted.
const HEARTBEAT_SECONDS: i64 = 30;

#[OpenApi(prefix_path = "/api/v1/projections", tag = "QueryTags::Operations")]
impl ProjectionQueryApi {
    /// Every projection: position, lag, health, rebuild (system admins).
    #[oai(path = "/", method = "get", operation_id = "listProjections")]
    async fn list(&self, auth: BearerAuth) -> Result<Json<Vec<ProjectionView>>, Problem> {
        policy::authorize_person(&auth.0, Action::OperateProjections)?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let mut items = rows::query_map(
            &client,
            "SELECT c.name, c.transaction_id, c.global_position, c.events_applied, c.status, c.error,
                    c.error_position, c.error_event_type, c.failing_since, c.updated_at,
                    r.status, r.done, r.total, r.requested_at, r.started_at, r.updated_at, r.finished_at,
                    r.differences, r.error,
                    r.status = 'running' AND r.updated_at < now() - make_interval(secs => $1),
                    r.skipped
               FROM projection_checkpoints c
               LEFT JOIN projection_rebuilds r ON r.name = c.name
              WHERE c.name NOT LIKE '%@rebuild'
              ORDER BY c.name",
            &[&(HEARTBEAT_SECONDS as f64)],
            |row| {
                let position = Position {
                    transaction_id: row.try_get(1)?,
                    global_position: row.try_get(2)?,
                };
                let status: String = row.try_get(4)?;
                let error = match row.try_get::<_, Option<String>>(5)? {
                    Some(message) => Some(ProjectionFailure {
                        position: row.try_get(6)?,
                        event_type: row.try_get(7)?,
                        message,
                        since: row.try_get(8)?,
                    }),
                    None => None,
                };
                let rebuild = match row.try_get::<_, Option<String>>(10)? {
                    Some(rebuild_status) => {
                        let interrupted: Option<bool> = row.try_get(19)?;
                        Some(RebuildView {
                            status: if interrupted == Some(true) {
                                "interrupted".to_owned()
                            } else {
                                rebuild_status
                            },
                            done: row.try_get(11)?,
                            total: row.try_get(12)?,
                            requested_at: row.try_get(13)?,
                            started_at: row.try_get(14)?,
                            updated_at: row.try_get(15)?,
                            finished_at: row.try_get(16)?,
                            differences: row.try_get(17)?,
                            skipped: row.try_get(20)?,
                            error: row.try_get(18)?,
                        })
                    }
                    None => None,
                };
                let (rebuilding, last_rebuild) = match rebuild {
                    Some(r) if r.status == "requested" || r.status == "running" => (Some(r), None),
                    other => (None, other),
                };
                Ok((
                    position,
                    ProjectionView {
                        name: row.try_get(0)?,
                        position: position.global_position,
                        events_applied: row.try_get(3)?,
                        lag_events: 0,
                        lag_seconds: 0.0,
                        status: if status == "failed" {
                            status
                        } else if rebuilding.is_some() {
                            "rebuilding".to_owned()
                        } else {
                            status
                        },
                        error,
                        rebuilding,
                        last_rebuild,
                        skipped: Vec::new(),
                        updated_at: row.try_get(9)?,
                    },
                ))
            },
        )
        .await?;
        for (position, view) in &mut items {
            view.lag_events = event_log::count_after(&client, *position)
                .await
                .map_err(Problem::from_db)?;
            view.lag_seconds = event_log::seconds_behind(&client, *position)
                .await
                .map_err(Problem::from_db)?;
        }
        let mut skipped = skipped_events(&client).await?;
        for (_, view) in &mut items {
            view.skipped = skipped.remove(&view.name).unwrap_or_default();
        }
        Ok(Json(items.into_iter().map(|(_, view)| view).collect()))
    }
}

/// Every projection's skipped events, by projection name, oldest first:
/// the `ProjectionEventSkipped` events of the `Projection` streams.
async fn skipped_events(
    client: &deadpool_postgres::Client,
) -> Result<HashMap<String, Vec<SkippedEventView>>, Problem> {
    let mut skipped: HashMap<String, Vec<SkippedEventView>> = HashMap::new();
    for recorded in streams::every_stream_of::<Projection>(client).await? {
        let ProjectionEvent::ProjectionEventSkipped {
            position,
            event_type,
            reason,
            skipped_by,
        } = recorded.event;
        skipped
            .entry(recorded.aggregate_id)
            .or_default()
            .push(SkippedEventView {
                position,
                event_type,
                reason,
                skipped_by,
                skipped_at: recorded.recorded_at,
            });
    }
    Ok(skipped)
}
