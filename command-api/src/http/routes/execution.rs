//! Project execution routes: start a run, see it, pause, resume or cancel it.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_event_store::consistency::ConsistencyToken;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::Bounded;
use zekka_platform::{Problem, money};

use super::CommandTags;
use crate::app::access;
use crate::app::orchestrator::control::{self, Direction, ExecutionView};
use crate::app::state::CommandState;
use crate::http::{self, limits};

/// Running projects through their stages.
pub struct ExecutionApi {
    state: Arc<CommandState>,
}

/// The most tasks of one run claimed at once, and the default.
const MAX_PARALLEL: i64 = 1000;

/// A run to start.
#[derive(Debug, Object)]
struct StartRequest {
    /// At most this many of the run's tasks are claimed at once (1 to 1000; all by default).
    max_parallel_tasks: Option<Bounded<1, MAX_PARALLEL>>,
}

/// The run that started.
#[derive(Debug, Object)]
struct Started {
    execution_id: Uuid,
    consistency_token: String,
}

/// Tasks of a run by where they stand.
#[derive(Debug, Object)]
struct TaskCounts {
    /// Waiting to be claimed.
    open: i64,
    /// Claimed under a live lease.
    claimed: i64,
    /// Done.
    done: i64,
    /// Failed.
    failed: i64,
}

/// A run of the project through its stages.
#[derive(Debug, Object)]
struct Execution {
    execution_id: Uuid,
    /// running, paused, completed or cancelled.
    status: String,
    /// The stage it is at.
    stage: String,
    tasks: TaskCounts,
    /// USD, six decimals.
    cost_usd: String,
    /// Why it waits: `{kind: manual|task_failed|conflict_escalated, …}` each.
    pause_reasons: serde_json::Value,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ExecutionView> for Execution {
    fn from(view: ExecutionView) -> Self {
        Self {
            execution_id: view.execution_id,
            status: view.status,
            stage: view.stage,
            tasks: TaskCounts {
                open: view.open,
                claimed: view.claimed,
                done: view.done,
                failed: view.failed,
            },
            cost_usd: money::to_wire(view.cost_usd),
            pause_reasons: view.pause_reasons,
            started_at: view.started_at,
            finished_at: view.finished_at,
        }
    }
}

#[derive(ApiResponse)]
enum StartAnswer {
    /// The run started; the orchestrator hands out its first stage's tasks.
    #[oai(status = 202)]
    Accepted(Json<Started>, #[oai(header = "X-Consistency-Token")] String),
}

#[derive(ApiResponse)]
enum ExecutionAnswer {
    /// The run.
    #[oai(status = 200)]
    Ok(Json<Execution>),
}

impl ExecutionApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }

    async fn direct(
        &self,
        req: &Request,
        auth: BearerAuth,
        project_id: Uuid,
        direction: Direction,
    ) -> Result<ExecutionAnswer, Problem> {
        let actor = auth.0.user_id;
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let (_, token) = control::direct(&self.state, project_id, actor, direction, &context).await?;
        self.answer(project_id, Some(token)).await
    }

    async fn answer(
        &self,
        project_id: Uuid,
        token: Option<ConsistencyToken>,
    ) -> Result<ExecutionAnswer, Problem> {
        let view = control::view(&self.state, project_id, token)
            .await?
            .ok_or_else(|| Problem::not_found("this project has no execution"))?;
        Ok(ExecutionAnswer::Ok(Json(view.into())))
    }
}

#[OpenApi(prefix_path = "/api/v1/projects", tag = "CommandTags::Execution")]
impl ExecutionApi {
    /// Start running the project through its stages, from its current one
    /// (owners and admins; one run at a time: 409 while one runs).
    #[oai(path = "/:id/execution", method = "post", operation_id = "startExecution")]
    async fn start(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<StartRequest>,
    ) -> Result<StartAnswer, Problem> {
        let actor = auth.0.user_id;
        limits::writes(&self.state, actor).await?;
        let max_parallel = body.max_parallel_tasks.as_ref().map_or(MAX_PARALLEL, |n| n.0);
        if !(1..=MAX_PARALLEL).contains(&max_parallel) {
            return Err(Problem::invalid_field(zekka_domain::FieldError::new(
                "max_parallel_tasks",
                "must be between 1 and 1000",
            )));
        }
        let max_parallel = u32::try_from(max_parallel).unwrap_or(1);
        let context = http::context(req, Some(actor));
        let (execution_id, token) = control::start(&self.state, id.0, actor, max_parallel, &context).await?;
        let token = token.to_string();
        Ok(StartAnswer::Accepted(
            Json(Started {
                execution_id,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// The project's latest run: its status, stage, task counts and cost.
    #[oai(path = "/:id/execution", method = "get", operation_id = "getExecution")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<ExecutionAnswer, Problem> {
        let standing = access::project_access(&self.state, id.0, auth.0.user_id).await?;
        if standing.role.is_none() {
            return Err(Problem::not_found("project not found"));
        }
        self.answer(id.0, None).await
    }

    /// Pause the running execution: no task is handed out until it resumes.
    #[oai(
        path = "/:id/execution/pause",
        method = "post",
        operation_id = "pauseExecution"
    )]
    async fn pause(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<ExecutionAnswer, Problem> {
        self.direct(req, auth, id.0, Direction::Pause).await
    }

    /// Resume the paused execution; tasks that failed are handed out again.
    #[oai(
        path = "/:id/execution/resume",
        method = "post",
        operation_id = "resumeExecution"
    )]
    async fn resume(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<ExecutionAnswer, Problem> {
        self.direct(req, auth, id.0, Direction::Resume).await
    }

    /// Cancel the running execution for good; its open tasks are cancelled.
    #[oai(
        path = "/:id/execution/cancel",
        method = "post",
        operation_id = "cancelExecution"
    )]
    async fn cancel(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<ExecutionAnswer, Problem> {
        self.direct(req, auth, id.0, Direction::Cancel).await
    }
}
