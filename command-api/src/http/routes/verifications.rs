//! `POST /api/v1/audit/verifications` and `GET /api/v1/audit/verifications/{id}`:
//! the audit trail verified as a background job (auditors and admins).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::policy::{self, Action};

use super::CommandTags;
use crate::app::state::CommandState;
use crate::app::verifications::{self, VerificationView};
use crate::http::limits;

/// Verifications of the audit trail.
pub struct VerificationApi {
    state: Arc<CommandState>,
}

impl VerificationApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// A verification job and, once done, its report.
#[derive(Debug, Object)]
struct Verification {
    id: Uuid,
    /// `queued`, `running`, `done`, or `failed` (the job could not run;
    /// a store that does not verify is `done` with `report.intact = false`).
    status: String,
    /// Events checked so far.
    events_checked: i64,
    /// Events in the store when it started.
    events_total: Option<i64>,
    /// As `GET /audit/verify` answers: `intact`, `events_checked`,
    /// `checkpoints_checked`, `last_position`, `first_failure`.
    report: Option<serde_json::Value>,
    /// Why the job failed.
    error: Option<String>,
    requested_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<VerificationView> for Verification {
    fn from(view: VerificationView) -> Self {
        Self {
            id: view.id,
            status: view.status,
            events_checked: view.events_checked,
            events_total: view.events_total,
            report: view.report,
            error: view.error,
            requested_at: view.requested_at,
            finished_at: view.finished_at,
        }
    }
}

#[derive(ApiResponse)]
enum Queued {
    /// Queued; follow it at `/audit/verifications/{id}`.
    #[oai(status = 202)]
    Accepted(Json<Verification>),
}

#[OpenApi(prefix_path = "/api/v1/audit", tag = "CommandTags::Audit")]
impl VerificationApi {
    /// Verify the whole stored history in the background: every event's
    /// hash, every stream's succession, every signed checkpoint.
    #[oai(
        path = "/verifications",
        method = "post",
        operation_id = "requestAuditVerification"
    )]
    async fn request(&self, auth: BearerAuth) -> Result<Queued, Problem> {
        policy::authorize_person(&auth.0, Action::AuditEverything)?;
        limits::writes(&self.state, auth.0.user_id).await?;
        let id = verifications::request(&self.state, auth.0.user_id).await?;
        let view = verifications::view(&self.state, id)
            .await?
            .ok_or_else(|| Problem::not_found("verification not found"))?;
        Ok(Queued::Accepted(Json(view.into())))
    }

    /// A verification's progress and, once done, its report.
    #[oai(
        path = "/verifications/:id",
        method = "get",
        operation_id = "getAuditVerification"
    )]
    async fn view(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Json<Verification>, Problem> {
        policy::authorize_person(&auth.0, Action::AuditEverything)?;
        let view = verifications::view(&self.state, id.0)
            .await?
            .ok_or_else(|| Problem::not_found("verification not found"))?;
        Ok(Json(view.into()))
    }
}
