//! The agent write routes: register, report status, assign and complete tasks.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::agent::{Agent, AgentCommand, AgentStatus, Detail, Label, TaskOutcome};
use zekka_domain::conversation::ProjectAccess;
use zekka_domain::pricing::ModelName;
use zekka_domain::project::Stage;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::consistency::ConsistencyToken;

use super::{CommandTags, Written, WrittenResponse};
use crate::dispatch::{self, CommandContext};
use crate::state::CommandState;

/// Directing agents.
pub struct AgentCommandApi {
    state: Arc<CommandState>,
}

/// A new agent.
#[derive(Debug, Object)]
struct RegisterAgentRequest {
    project_id: Uuid,
    /// 1 to 100 characters.
    name: String,
    /// What it does: `developer`, `architect`, `reviewer`, …
    kind: String,
    /// The workflow stage it works on.
    stage: Option<String>,
    /// Its default model.
    model: String,
}

/// A status report.
#[derive(Debug, Object)]
struct StatusRequest {
    /// idle, working, blocked or offline.
    status: String,
    detail: Option<String>,
}

/// A task to give.
#[derive(Debug, Object)]
struct AssignTaskRequest {
    /// 1 to 200 characters.
    title: String,
    description: Option<String>,
    stage: Option<String>,
}

/// How a task ended.
#[derive(Debug, Object)]
struct CompleteTaskRequest {
    /// succeeded or failed.
    outcome: String,
    detail: Option<String>,
}

/// A task that was assigned.
#[derive(Debug, Object)]
struct TaskAssigned {
    task_id: Uuid,
    agent_id: Uuid,
    consistency_token: String,
}

#[derive(ApiResponse)]
enum AgentCreated {
    /// The agent was registered.
    #[oai(status = 201)]
    Created(Json<Written>, #[oai(header = "X-Consistency-Token")] String),
}

#[derive(ApiResponse)]
enum TaskCreated {
    /// The task was assigned.
    #[oai(status = 201)]
    Created(Json<TaskAssigned>, #[oai(header = "X-Consistency-Token")] String),
}

fn stage_of(raw: Option<&str>) -> Result<Option<Stage>, zekka_domain::FieldError> {
    raw.map(str::parse).transpose()
}

fn detail_of(field: &str, raw: Option<&str>) -> Result<Detail, zekka_domain::FieldError> {
    Detail::parse(field, raw.unwrap_or_default())
}

impl AgentCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }

    async fn limit(&self, auth: &BearerAuth) -> Result<(), Problem> {
        let limits = self.state.config.limits;
        self.state
            .limiter
            .hit(
                "writes",
                &auth.0.user_id.to_string(),
                limits.writes_per_user,
                "writes",
            )
            .await
    }

    async fn access(&self, agent_id: Uuid, actor: Uuid) -> Result<ProjectAccess, Problem> {
        let project = self
            .state
            .owning_project("Agent", agent_id)
            .await?
            .ok_or_else(|| Problem::not_found("agent not found"))?;
        self.state.project_access(project, actor).await
    }

    async fn execute(
        &self,
        req: &Request,
        auth: &BearerAuth,
        agent_id: Uuid,
        command: AgentCommand,
        name: &'static str,
    ) -> Result<ConsistencyToken, Problem> {
        let context = CommandContext::of(req, Some(auth.0.user_id));
        dispatch::execute::<Agent>(
            &self.state.agents,
            &self.state.pool,
            &agent_id.to_string(),
            command,
            name,
            &context,
        )
        .await
    }
}

#[OpenApi(prefix_path = "/api/v1/agents", tag = "CommandTags::Agents")]
impl AgentCommandApi {
    /// Register an agent in a project the caller can write to.
    #[oai(path = "/", method = "post", operation_id = "registerAgent")]
    async fn register(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<RegisterAgentRequest>,
    ) -> Result<AgentCreated, Problem> {
        self.limit(&auth).await?;
        let (name, kind, stage, model) = match (
            Label::parse("name", &body.name),
            Label::parse("kind", &body.kind),
            stage_of(body.stage.as_deref()),
            ModelName::parse(&body.model),
        ) {
            (Ok(n), Ok(k), Ok(s), Ok(m)) => (n, k, s, m),
            (n, k, s, m) => return Err(dispatch::invalid([n.err(), k.err(), s.err(), m.err()])),
        };
        let access = self.state.project_access(body.project_id, auth.0.user_id).await?;
        if access.role.is_none() {
            return Err(Problem::not_found("project not found"));
        }
        let agent_id = Uuid::now_v7();
        let command = AgentCommand::Register {
            agent_id,
            project_id: body.project_id,
            name,
            kind,
            stage,
            model,
            access,
        };
        let token = self
            .execute(req, &auth, agent_id, command, "RegisterAgent")
            .await?
            .to_string();
        Ok(AgentCreated::Created(
            Json(Written {
                id: agent_id,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Report the agent's status.
    #[oai(path = "/:id/status", method = "post", operation_id = "changeAgentStatus")]
    async fn change_status(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<StatusRequest>,
    ) -> Result<WrittenResponse, Problem> {
        self.limit(&auth).await?;
        let (status, detail) = match (
            body.status.parse::<AgentStatus>(),
            detail_of("detail", body.detail.as_deref()),
        ) {
            (Ok(s), Ok(d)) => (s, d),
            (s, d) => return Err(dispatch::invalid([s.err(), d.err()])),
        };
        let access = self.access(id.0, auth.0.user_id).await?;
        let command = AgentCommand::ChangeStatus {
            status,
            detail,
            access,
        };
        let token = self
            .execute(req, &auth, id.0, command, "ChangeAgentStatus")
            .await?;
        Ok(Written::ok(id.0, token.to_string()))
    }

    /// Give the agent a task.
    #[oai(path = "/:id/tasks", method = "post", operation_id = "assignTask")]
    async fn assign_task(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AssignTaskRequest>,
    ) -> Result<TaskCreated, Problem> {
        self.limit(&auth).await?;
        let (title, description, stage) = match (
            Label::title(&body.title),
            detail_of("description", body.description.as_deref()),
            stage_of(body.stage.as_deref()),
        ) {
            (Ok(t), Ok(d), Ok(s)) => (t, d, s),
            (t, d, s) => return Err(dispatch::invalid([t.err(), d.err(), s.err()])),
        };
        let access = self.access(id.0, auth.0.user_id).await?;
        let task_id = Uuid::now_v7();
        let command = AgentCommand::AssignTask {
            task_id,
            title,
            description,
            stage,
            access,
        };
        let token = self
            .execute(req, &auth, id.0, command, "AssignTask")
            .await?
            .to_string();
        Ok(TaskCreated::Created(
            Json(TaskAssigned {
                task_id,
                agent_id: id.0,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Close one of the agent's open tasks.
    #[oai(
        path = "/:id/tasks/:task_id/complete",
        method = "post",
        operation_id = "completeTask"
    )]
    async fn complete_task(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        task_id: Path<Uuid>,
        body: Json<CompleteTaskRequest>,
    ) -> Result<WrittenResponse, Problem> {
        self.limit(&auth).await?;
        let (outcome, detail) = match (
            body.outcome.parse::<TaskOutcome>(),
            detail_of("detail", body.detail.as_deref()),
        ) {
            (Ok(o), Ok(d)) => (o, d),
            (o, d) => return Err(dispatch::invalid([o.err(), d.err()])),
        };
        let access = self.access(id.0, auth.0.user_id).await?;
        let command = AgentCommand::CompleteTask {
            task_id: task_id.0,
            outcome,
            detail,
            access,
        };
        let token = self.execute(req, &auth, id.0, command, "CompleteTask").await?;
        Ok(Written::ok(task_id.0, token.to_string()))
    }
}
