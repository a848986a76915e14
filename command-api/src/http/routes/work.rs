//! Work for agent processes: the next task (long poll) and heartbeats.

use std::sync::Arc;
use std::time::Duration;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::project::Scope;
use zekka_platform::auth::AgentAuth;
use zekka_platform::input::Bounded;
use zekka_platform::{Problem, money};

use super::CommandTags;
use super::agents::agent_access;
use crate::app::orchestrator::work;
use crate::app::state::CommandState;
use crate::http::{self, limits, problem};

/// Agent processes taking their tasks.
pub struct WorkApi {
    state: Arc<CommandState>,
}

/// The longest wait for work, in seconds.
const MAX_WAIT_SECONDS: i64 = 30;

/// A task claimed for the agent, under a lease.
#[derive(Debug, Object)]
struct ClaimedTask {
    task_id: Uuid,
    title: String,
    description: String,
    stage: String,
    /// The model to run it on (the orchestrator switches models as the budget runs low).
    model: String,
    /// Send a heartbeat before this, or the task is handed out again.
    lease_expires_at: chrono::DateTime<chrono::Utc>,
    /// What remains of the project's budget (USD, six decimals); `null` without a budget.
    budget_remaining_usd: Option<String>,
}

/// A lease extended.
#[derive(Debug, Object)]
struct Lease {
    /// Send the next heartbeat before this.
    lease_expires_at: chrono::DateTime<chrono::Utc>,
    consistency_token: String,
}

#[derive(ApiResponse)]
enum WorkAnswer {
    /// A task, claimed for this agent.
    #[oai(status = 200)]
    Claimed(Json<ClaimedTask>),
    /// No task came within the wait.
    #[oai(status = 204)]
    None,
}

#[derive(ApiResponse)]
enum LeaseAnswer {
    /// The lease was extended.
    #[oai(status = 200)]
    Extended(Json<Lease>, #[oai(header = "X-Consistency-Token")] String),
}

impl WorkApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/api/v1/agents", tag = "CommandTags::Agents")]
impl WorkApi {
    /// The agent's next task of a running execution, claimed under a lease;
    /// waits up to `wait_seconds` (0 to 30, default 0) for one, then 204.
    #[oai(path = "/:id/work", method = "get", operation_id = "claimWork")]
    async fn claim(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        wait_seconds: Query<Option<Bounded<0, MAX_WAIT_SECONDS>>>,
    ) -> Result<WorkAnswer, Problem> {
        let wait = wait_seconds.0.as_ref().map_or(0, |n| n.0);
        if !(0..=MAX_WAIT_SECONDS).contains(&wait) {
            return Err(Problem::invalid_field(zekka_domain::FieldError::new(
                "wait_seconds",
                "must be between 0 and 30",
            )));
        }
        limits::writes(&self.state, auth.0.acting_user()).await?;
        let access = agent_access(&self.state, id.0, &auth.0, Scope::TasksWrite).await?;
        access
            .require_writer()
            .map_err(|refusal| problem::refused(cqrs_es::AggregateError::UserError(refusal)))?;
        // Answered before the request's time limit, with a second to spare.
        let limit = self
            .state
            .config
            .request_timeout
            .saturating_sub(Duration::from_secs(1));
        let wait = Duration::from_secs(u64::try_from(wait).unwrap_or(0)).min(limit);
        let context = http::context(req, Some(auth.0.acting_user())).with_api_key(auth.0.api_key());
        Ok(
            match work::wait_for_work(&self.state, id.0, &context, wait).await? {
                Some(task) => WorkAnswer::Claimed(Json(ClaimedTask {
                    task_id: task.task_id,
                    title: task.title(),
                    description: task.description(),
                    stage: task.stage.as_str().to_owned(),
                    model: task.model.clone(),
                    lease_expires_at: task.lease_until,
                    budget_remaining_usd: task.budget_remaining_usd.map(money::to_wire),
                })),
                None => WorkAnswer::None,
            },
        )
    }

    /// Keep the lease on a claimed task; 409 once it was lost (lapsed or ended).
    #[oai(
        path = "/:id/tasks/:task_id/heartbeat",
        method = "post",
        operation_id = "heartbeatTask"
    )]
    async fn heartbeat(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        task_id: Path<Uuid>,
    ) -> Result<LeaseAnswer, Problem> {
        limits::writes(&self.state, auth.0.acting_user()).await?;
        let access = agent_access(&self.state, id.0, &auth.0, Scope::TasksWrite).await?;
        access
            .require_writer()
            .map_err(|refusal| problem::refused(cqrs_es::AggregateError::UserError(refusal)))?;
        let context = http::context(req, Some(auth.0.acting_user())).with_api_key(auth.0.api_key());
        let (lease_until, token) = work::heartbeat(&self.state, id.0, task_id.0, &context).await?;
        let token = token.to_string();
        Ok(LeaseAnswer::Extended(
            Json(Lease {
                lease_expires_at: lease_until,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }
}
