//! The agent write routes: register, report status, assign and complete tasks.

use std::sync::Arc;

use cqrs_es::AggregateError;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::agent::{Agent, AgentCommand, AgentStatus, TaskOutcome};
use zekka_domain::pricing::ModelName;
use zekka_domain::project::{Project, ProjectCommand, ProjectError, Scope, Stage, UsageRecord};
use zekka_domain::shared::access::ProjectAccess;
use zekka_domain::shared::text::{Detail, Label};
use zekka_event_store::consistency::ConsistencyToken;
use zekka_platform::auth::{AgentAuth, BearerAuth, Principal};
use zekka_platform::input::{Bounded, Label as LabelText, ModelName as ModelNameText, OneOf, Prose, Text};
use zekka_platform::policy::{self, Action};
use zekka_platform::{Problem, money};

use super::{CommandTags, Written, WrittenResponse};
use crate::app::access;
use crate::app::dispatch;
use crate::app::orchestrator::work;
use crate::app::prices;
use crate::app::state::CommandState;
use crate::http::fields::AllFields;
use crate::http::{self, limits, problem};

/// Directing agents.
pub struct AgentCommandApi {
    state: Arc<CommandState>,
}

/// A new agent.
#[derive(Debug, Object)]
struct RegisterAgentRequest {
    project_id: Uuid,
    /// 1 to 100 characters.
    name: Text<LabelText<{ Label::MAX_CHARS }>>,
    /// What it does: `developer`, `architect`, `reviewer`, …
    kind: Text<LabelText<{ Label::MAX_CHARS }>>,
    /// The workflow stage it works on.
    stage: Option<Text<OneOf<Stage>>>,
    /// Its default model.
    model: Text<ModelNameText>,
}

/// A status report.
#[derive(Debug, Object)]
struct StatusRequest {
    /// idle, working, blocked or offline.
    status: Text<OneOf<AgentStatus>>,
    detail: Option<Text<Prose<{ Detail::MAX_CHARS }>>>,
}

/// A task to give.
#[derive(Debug, Object)]
struct AssignTaskRequest {
    /// 1 to 200 characters.
    title: Text<LabelText<{ Label::TITLE_MAX_CHARS }>>,
    description: Option<Text<Prose<{ Detail::MAX_CHARS }>>>,
    stage: Option<Text<OneOf<Stage>>>,
}

/// How a task ended.
#[derive(Debug, Object)]
struct CompleteTaskRequest {
    /// succeeded or failed.
    outcome: Text<OneOf<TaskOutcome>>,
    detail: Option<Text<Prose<{ Detail::MAX_CHARS }>>>,
}

/// Tokens an agent spent.
#[derive(Debug, Object)]
struct UsageRequest {
    /// The model used; it must have a price.
    model: Text<ModelNameText>,
    /// 0 to 1,000,000,000.
    input_tokens: TokenCount,
    /// 0 to 1,000,000,000.
    output_tokens: TokenCount,
    conversation_id: Option<Uuid>,
    task_id: Option<Uuid>,
}

/// What the usage cost and where the budget stands.
#[derive(Debug, Object)]
struct UsageRecorded {
    usage_id: Uuid,
    /// USD, six decimals (rounded for display; the exact cost is kept).
    cost_usd: String,
    /// The project's spend after this record.
    project_spent_usd: String,
    /// What is left of the budget; `null` without a budget.
    budget_remaining_usd: Option<String>,
    consistency_token: String,
}

#[derive(ApiResponse)]
enum UsageCreated {
    /// The usage was charged.
    #[oai(status = 201)]
    Created(Json<UsageRecorded>, #[oai(header = "X-Consistency-Token")] String),
}

/// The largest token count one record may carry.
const MAX_TOKENS: i64 = 1_000_000_000;

/// A token count as the schema states it.
type TokenCount = Bounded<0, MAX_TOKENS>;

fn tokens(field: &str, value: i64) -> Result<u64, zekka_domain::FieldError> {
    if !(0..=MAX_TOKENS).contains(&value) {
        return Err(zekka_domain::FieldError::new(
            field,
            "must be between 0 and 1000000000",
        ));
    }
    u64::try_from(value).map_err(|_| zekka_domain::FieldError::new(field, "must not be negative"))
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

/// The access of `principal` to `agent_id`'s project; a key must hold
/// `scope` there (and be bound to no other agent).
pub(super) async fn agent_access(
    state: &CommandState,
    agent_id: Uuid,
    principal: &Principal,
    scope: Scope,
) -> Result<ProjectAccess, Problem> {
    let project = access::owning_project(state, "Agent", agent_id)
        .await?
        .ok_or_else(|| Problem::not_found("agent not found"))?;
    policy::authorize(principal, Action::for_agent(scope, project, agent_id))?;
    Ok(access::project_access(state, project, principal.acting_user()).await?)
}

impl AgentCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }

    async fn limit(&self, principal: &Principal) -> Result<(), Problem> {
        limits::writes(&self.state, principal.acting_user()).await
    }

    async fn access(
        &self,
        agent_id: Uuid,
        principal: &Principal,
        scope: Scope,
    ) -> Result<ProjectAccess, Problem> {
        agent_access(&self.state, agent_id, principal, scope).await
    }

    async fn execute(
        &self,
        req: &Request,
        principal: &Principal,
        agent_id: Uuid,
        command: AgentCommand,
        name: &'static str,
    ) -> Result<ConsistencyToken, Problem> {
        let context = http::context(req, Some(principal.acting_user())).with_api_key(principal.api_key());
        Ok(
            dispatch::execute::<Agent>(&self.state.agents, &agent_id.to_string(), command, name, &context)
                .await?,
        )
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
        let person = Principal::Person(auth.0);
        self.limit(&person).await?;
        let (name, kind, stage, model) = (
            Label::parse("name", &body.name),
            Label::parse("kind", &body.kind),
            stage_of(body.stage.as_deref()),
            ModelName::parse(&body.model),
        )
            .all()
            .map_err(problem::invalid)?;
        let access = access::project_access(&self.state, body.project_id, person.acting_user()).await?;
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
            .execute(req, &person, agent_id, command, "RegisterAgent")
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
        auth: AgentAuth,
        id: Path<Uuid>,
        body: Json<StatusRequest>,
    ) -> Result<WrittenResponse, Problem> {
        self.limit(&auth.0).await?;
        let (status, detail) = (
            body.status.parse::<AgentStatus>(),
            detail_of("detail", body.detail.as_deref()),
        )
            .all()
            .map_err(problem::invalid)?;
        let access = self.access(id.0, &auth.0, Scope::StatusWrite).await?;
        let command = AgentCommand::ChangeStatus {
            status,
            detail,
            access,
        };
        let token = self
            .execute(req, &auth.0, id.0, command, "ChangeAgentStatus")
            .await?;
        Ok(Written::ok(id.0, token.to_string()))
    }

    /// Give the agent a task.
    #[oai(path = "/:id/tasks", method = "post", operation_id = "assignTask")]
    async fn assign_task(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        body: Json<AssignTaskRequest>,
    ) -> Result<TaskCreated, Problem> {
        self.limit(&auth.0).await?;
        let (title, description, stage) = (
            Label::title(&body.title),
            detail_of("description", body.description.as_deref()),
            stage_of(body.stage.as_deref()),
        )
            .all()
            .map_err(problem::invalid)?;
        let access = self.access(id.0, &auth.0, Scope::TasksWrite).await?;
        let task_id = Uuid::now_v7();
        let command = AgentCommand::AssignTask {
            task_id,
            title,
            description,
            stage,
            access,
        };
        let token = self
            .execute(req, &auth.0, id.0, command, "AssignTask")
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

    /// Record tokens the agent spent, charged to its project's budget at the
    /// model's price in force now. Paid usage past the budget is refused
    /// (402, naming what remains and the cheapest model); local models
    /// (price 0) are always accepted.
    #[oai(path = "/:id/usage", method = "post", operation_id = "recordTokenUsage")]
    async fn record_usage(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        body: Json<UsageRequest>,
    ) -> Result<UsageCreated, Problem> {
        self.limit(&auth.0).await?;
        let (model, input_tokens, output_tokens) = (
            ModelName::parse(&body.model),
            tokens("input_tokens", body.input_tokens.0),
            tokens("output_tokens", body.output_tokens.0),
        )
            .all()
            .map_err(problem::invalid)?;
        let state = &self.state;
        let project_id = access::owning_project(state, "Agent", id.0)
            .await?
            .ok_or_else(|| Problem::not_found("agent not found"))?;
        policy::authorize(&auth.0, Action::for_agent(Scope::UsageWrite, project_id, id.0))?;
        // What the usage names must be this project's (security review F7).
        let foreign = |field: &str, what: &str| {
            Problem::invalid_field(zekka_domain::FieldError::new(
                field,
                format!("no {what} of this project has this id"),
            ))
        };
        if let Some(task) = body.task_id
            && access::task_project(state, task).await? != Some(project_id)
        {
            return Err(foreign("task_id", "task"));
        }
        if let Some(conversation) = body.conversation_id
            && access::owning_project(state, "Conversation", conversation).await? != Some(project_id)
        {
            return Err(foreign("conversation_id", "conversation"));
        }
        let usage_id = Uuid::now_v7();
        let actor = auth.0.acting_user();
        let context = http::context(req, Some(actor)).with_api_key(auth.0.api_key());
        let project_key = project_id.to_string();
        // Charged at the price in force in the price list's state in memory;
        // its guard makes the append fail if the price changed since, and
        // the usage is then charged again at the price as stored.
        let charged = std::sync::Mutex::new(None);
        let (model, body, charged_price) = (&model, &body, &charged);
        let outcome = dispatch::run_serialized::<Project, _, _, Problem>(
            &state.write_locks,
            project_id,
            &state.projects,
            &project_key,
            "RecordTokenUsage",
            &context,
            |_| false,
            |fresh| async move {
                let (price, guard) =
                    prices::price_at_guarded(state, model.as_str(), chrono::Utc::now(), fresh).await?;
                let price = price.ok_or_else(|| {
                    Problem::invalid_field(zekka_domain::FieldError::new(
                        "model",
                        "no price is set for this model",
                    ))
                })?;
                if let Ok(mut charged) = charged_price.lock() {
                    *charged = Some(price);
                }
                let record = UsageRecord {
                    usage_id,
                    actor,
                    agent_id: id.0,
                    model: model.as_str().to_owned(),
                    input_tokens,
                    output_tokens,
                    conversation_id: body.conversation_id,
                    task_id: body.task_id,
                    price,
                };
                Ok((ProjectCommand::RecordUsage(record), Some(guard)))
            },
        )
        .await?;
        let price = charged.into_inner().ok().flatten().ok_or_else(|| {
            Problem::internal(&std::io::Error::other("the usage was decided without a price"))
        })?;
        let executed = match outcome {
            Ok(executed) => executed,
            Err(AggregateError::UserError(ProjectError::BudgetExceeded { remaining_usd, .. })) => {
                let cheapest = prices::cheapest_model(state).await?;
                let refused = problem::refused(AggregateError::UserError(ProjectError::BudgetExceeded {
                    remaining_usd,
                    cost_usd: price.cost(input_tokens, output_tokens),
                }));
                return Err(refused
                    .with_extension("budget_remaining_usd", money::to_wire(remaining_usd))
                    .with_extension("cheapest_model", cheapest));
            }
            Err(error) => return Err(problem::refused(error)),
        };
        let token = dispatch::token(&state.projects, &project_key, executed.appended)
            .await?
            .to_string();
        // The state this usage produced.
        let project = executed.state;
        Ok(UsageCreated::Created(
            Json(UsageRecorded {
                usage_id,
                cost_usd: money::to_wire(price.cost(input_tokens, output_tokens)),
                project_spent_usd: money::to_wire(project.spent_usd),
                budget_remaining_usd: project.budget_usd.map(|budget| {
                    money::to_wire((budget - project.spent_usd).max(rust_decimal::Decimal::ZERO))
                }),
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
        auth: AgentAuth,
        id: Path<Uuid>,
        task_id: Path<Uuid>,
        body: Json<CompleteTaskRequest>,
    ) -> Result<WrittenResponse, Problem> {
        self.limit(&auth.0).await?;
        let (outcome, detail) = (
            body.outcome.parse::<TaskOutcome>(),
            detail_of("detail", body.detail.as_deref()),
        )
            .all()
            .map_err(problem::invalid)?;
        let access = self.access(id.0, &auth.0, Scope::TasksWrite).await?;
        if work::is_orchestrated(&self.state, task_id.0).await? {
            // One of the orchestrator's tasks: it is the Task stream's to end.
            let context = http::context(req, Some(auth.0.acting_user())).with_api_key(auth.0.api_key());
            let token =
                work::finish(&self.state, id.0, task_id.0, (outcome, detail), access, &context).await?;
            return Ok(Written::ok(task_id.0, token.to_string()));
        }
        let command = AgentCommand::CompleteTask {
            task_id: task_id.0,
            outcome,
            detail,
            access,
        };
        let token = self.execute(req, &auth.0, id.0, command, "CompleteTask").await?;
        Ok(Written::ok(task_id.0, token.to_string()))
    }
}
