//! `GET /api/v1/audit/export`: the audit trail as NDJSON for offline
//! verification (`zekka audit verify --file EXPORT --public-key K`),
//! streamed a batch at a time (auditors and admins).

use std::sync::Arc;

use futures_util::StreamExt;
use poem::{Body, IntoResponse, Response};
use poem_openapi::param::Query;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, OpenApi};
use zekka_event_store::event_log::Position;
use zekka_event_store::integrity::{self, ExportRange, NDJSON};
use zekka_event_store::lookups::positions;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::policy::{self, Action};

use crate::routes::QueryTags;
use crate::state::QueryState;

/// Exporting the audit trail.
pub struct AuditExportApi {
    state: Arc<QueryState>,
}

impl AuditExportApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// An export, streamed.
pub struct Ndjson(Body);

impl ApiResponse for Ndjson {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "One JSON object a line: `start` (the running hash before the range), the signed \
                              `checkpoint`s ending inside it, then every `event` with the exact text its hash covers",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: NDJSON,
                    schema: String::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

impl IntoResponse for Ndjson {
    fn into_response(self) -> Response {
        Response::builder().content_type(NDJSON).body(self.0)
    }
}

#[OpenApi(prefix_path = "/api/v1/audit", tag = "QueryTags::Audit")]
impl AuditExportApi {
    /// The events after global position `from_position` (default: from the
    /// start) up to `to_position` (default: the newest), in commit order,
    /// with their hashes and the signed checkpoints covering them, as NDJSON
    /// (auditors and admins).
    #[oai(path = "/export", method = "get", operation_id = "exportAuditTrail")]
    async fn export(
        &self,
        auth: BearerAuth,
        from_position: Query<Option<i64>>,
        to_position: Query<Option<i64>>,
    ) -> Result<Ndjson, Problem> {
        policy::authorize_person(&auth.0, Action::AuditEverything)?;
        let invalid =
            |field: &str| Problem::invalid_field(zekka_domain::FieldError::new(field, "must be 0 or more"));
        if from_position.0.is_some_and(|p| p < 0) {
            return Err(invalid("from_position"));
        }
        if to_position.0.is_some_and(|p| p < 0) {
            return Err(invalid("to_position"));
        }
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let from = match from_position.0 {
            Some(global) if global > 0 => positions::position_at_or_before(&client, global)
                .await?
                .unwrap_or(Position::START),
            _ => Position::START,
        };
        let to = match to_position.0 {
            Some(global) => Some(
                positions::position_at_or_before(&client, global)
                    .await?
                    .unwrap_or(Position::START),
            ),
            None => None,
        };
        let stream = integrity::export(client, ExportRange { from, to })
            .await
            .map_err(|e| Problem::internal(&e))?
            .map(|chunk| chunk.map_err(std::io::Error::other));
        Ok(Ndjson(Body::from_bytes_stream(stream)))
    }
}
