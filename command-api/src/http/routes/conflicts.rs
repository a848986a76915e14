//! The conflict write routes: report, resolve, escalate.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::agent::FilePath;
use zekka_domain::conflict::{Conflict, ConflictCommand, ConflictKind, Strategy};
use zekka_domain::pricing::ModelName;
use zekka_domain::project::Scope;
use zekka_domain::shared::text::Detail;
use zekka_event_store::consistency::ConsistencyToken;
use zekka_event_store::lookups::streams;
use zekka_platform::Problem;
use zekka_platform::auth::{AgentAuth, Principal};
use zekka_platform::input::{Ids, Label, ModelName as ModelNameText, NonBlank, OneOf, Prose, Text};
use zekka_platform::policy::{self, Action};

use super::{CommandTags, Written, WrittenResponse};
use crate::app::access;
use crate::app::arbitration;
use crate::app::dispatch;
use crate::app::state::CommandState;
use crate::http::fields::AllFields;
use crate::http::{self, limits, problem};

/// Reporting and settling conflicts.
pub struct ConflictCommandApi {
    state: Arc<CommandState>,
}

/// A conflict between agents.
#[derive(Debug, Object)]
struct ReportConflictRequest {
    project_id: Uuid,
    /// code, design, requirement or resource.
    kind: Text<OneOf<ConflictKind>>,
    description: Text<NonBlank<{ Detail::MAX_CHARS }>>,
    /// The agents involved (1 to 20).
    agent_ids: Ids<1, 20>,
    /// The file they contend for: 1 to 1024 characters.
    file_path: Option<Text<Label<1024>>>,
}

/// How a conflict was settled.
#[derive(Debug, Object)]
struct ResolveRequest {
    /// arbitrator, manual, first_writer or last_writer.
    strategy: Text<OneOf<Strategy>>,
    /// What was decided.
    resolution: Text<NonBlank<{ Detail::MAX_CHARS }>>,
    /// The model that decided, for `arbitrator`.
    resolved_by_model: Option<Text<ModelNameText>>,
}

/// Why a person must decide.
#[derive(Debug, Object)]
struct EscalateRequest {
    reason: Text<Prose<{ Detail::MAX_CHARS }>>,
}

#[derive(ApiResponse)]
enum ConflictCreated {
    /// The conflict was reported.
    #[oai(status = 201)]
    Created(Json<Written>, #[oai(header = "X-Consistency-Token")] String),
}

/// An arbitration under way.
#[derive(Debug, Object)]
struct Arbitration {
    conflict_id: Uuid,
    /// `started`, or `running` when one was under way already.
    status: String,
    /// The arbitrators it tries, in order.
    chain: Vec<String>,
}

#[derive(ApiResponse)]
enum ArbitrationStarted {
    /// The chain runs; the conflict's events tell how it ends.
    #[oai(status = 202)]
    Accepted(Json<Arbitration>),
}

impl ConflictCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }

    async fn execute(
        &self,
        req: &Request,
        principal: &Principal,
        conflict_id: Uuid,
        command: ConflictCommand,
        name: &'static str,
    ) -> Result<ConsistencyToken, Problem> {
        limits::writes(&self.state, principal.acting_user()).await?;
        let context = http::context(req, Some(principal.acting_user())).with_api_key(principal.api_key());
        Ok(dispatch::execute::<Conflict>(
            &self.state.conflicts,
            &conflict_id.to_string(),
            command,
            name,
            &context,
        )
        .await?)
    }

    /// The access of `principal` to the conflict's project; a key needs
    /// `conflicts:write` there.
    async fn access(
        &self,
        conflict_id: Uuid,
        principal: &Principal,
    ) -> Result<zekka_domain::shared::access::ProjectAccess, Problem> {
        Ok(self.project_and_access(conflict_id, principal).await?.1)
    }

    /// [`Self::access`], with the conflict's project.
    async fn project_and_access(
        &self,
        conflict_id: Uuid,
        principal: &Principal,
    ) -> Result<(Uuid, zekka_domain::shared::access::ProjectAccess), Problem> {
        let project = access::owning_project(&self.state, "Conflict", conflict_id)
            .await?
            .ok_or_else(|| Problem::not_found("conflict not found"))?;
        policy::authorize(principal, Action::in_project(Scope::ConflictsWrite, project))?;
        let access = access::project_access(&self.state, project, principal.acting_user()).await?;
        Ok((project, access))
    }
}

#[OpenApi(prefix_path = "/api/v1/conflicts", tag = "CommandTags::Conflicts")]
impl ConflictCommandApi {
    /// Report a conflict between agents of a project.
    #[oai(path = "/", method = "post", operation_id = "reportConflict")]
    async fn report(
        &self,
        req: &Request,
        auth: AgentAuth,
        body: Json<ReportConflictRequest>,
    ) -> Result<ConflictCreated, Problem> {
        let file_path = body
            .file_path
            .as_deref()
            .map(|path| FilePath::parse("file_path", path).map(|p| p.as_str().to_owned()))
            .transpose();
        let (kind, description, file_path) = (
            body.kind.parse::<ConflictKind>(),
            Detail::parse("description", &body.description),
            file_path,
        )
            .all()
            .map_err(problem::invalid)?;
        policy::authorize(
            &auth.0,
            Action::in_project(Scope::ConflictsWrite, body.project_id),
        )?;
        // A key bound to an agent reports conflicts that agent is part of.
        if let Principal::Key(grant) = &auth.0
            && let Some(bound) = grant.agent_id
            && !body.agent_ids.0.contains(&bound)
        {
            return Err(Problem::forbidden(
                "this API key reports only conflicts its own agent is part of",
            ));
        }
        let access = access::project_access(&self.state, body.project_id, auth.0.acting_user()).await?;
        if access.role.is_none() {
            return Err(Problem::not_found("project not found"));
        }
        // Every agent named must be one of this project's (security review F7).
        for agent in &body.agent_ids.0 {
            if access::owning_project(&self.state, "Agent", *agent).await? != Some(body.project_id) {
                return Err(Problem::invalid_field(zekka_domain::FieldError::new(
                    "agent_ids",
                    format!("no agent of this project has the id {agent}"),
                )));
            }
        }
        let conflict_id = Uuid::now_v7();
        let command = ConflictCommand::Report {
            conflict_id,
            project_id: body.project_id,
            kind,
            description,
            agent_ids: body.agent_ids.0.clone(),
            file_path,
            actor: auth.0.acting_user(),
            access,
        };
        let token = self
            .execute(req, &auth.0, conflict_id, command, "ReportConflict")
            .await?
            .to_string();
        Ok(ConflictCreated::Created(
            Json(Written {
                id: conflict_id,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Settle a conflict. Settling it twice is 409.
    #[oai(path = "/:id/resolve", method = "post", operation_id = "resolveConflict")]
    async fn resolve(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        body: Json<ResolveRequest>,
    ) -> Result<WrittenResponse, Problem> {
        let model = body
            .resolved_by_model
            .as_deref()
            .map(ModelName::parse)
            .transpose();
        let (strategy, resolution, resolved_by_model) = (
            body.strategy.parse::<Strategy>(),
            Detail::parse("resolution", &body.resolution),
            model,
        )
            .all()
            .map_err(problem::invalid)?;
        let access = self.access(id.0, &auth.0).await?;
        let command = ConflictCommand::Resolve {
            strategy,
            resolution,
            resolved_by_model,
            actor: auth.0.acting_user(),
            access,
        };
        let token = self
            .execute(req, &auth.0, id.0, command, "ResolveConflict")
            .await?;
        Ok(Written::ok(id.0, token.to_string()))
    }

    /// Hand a conflict to a person.
    #[oai(path = "/:id/escalate", method = "post", operation_id = "escalateConflict")]
    async fn escalate(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        body: Json<EscalateRequest>,
    ) -> Result<WrittenResponse, Problem> {
        let reason = Detail::parse("reason", &body.reason).map_err(Problem::invalid_field)?;
        let access = self.access(id.0, &auth.0).await?;
        let command = ConflictCommand::Escalate {
            reason,
            actor: auth.0.acting_user(),
            access,
        };
        let token = self
            .execute(req, &auth.0, id.0, command, "EscalateConflict")
            .await?;
        Ok(Written::ok(id.0, token.to_string()))
    }

    /// Ask the arbitrator chain (`ARBITRATOR_CHAIN`) to settle the conflict.
    /// Answers at once; the attempts, then the resolution or escalation,
    /// follow as the conflict's events.
    #[oai(path = "/:id/arbitrate", method = "post", operation_id = "arbitrateConflict")]
    async fn arbitrate(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
    ) -> Result<ArbitrationStarted, Problem> {
        let principal = &auth.0;
        limits::writes(&self.state, principal.acting_user()).await?;
        let (project_id, access) = self.project_and_access(id.0, principal).await?;
        // The conflict's own rule, decided before anything starts in the
        // background (non-member 404, viewer 403, archived project 409).
        access
            .require_writer()
            .map_err(zekka_domain::conflict::ConflictError::from)
            .map_err(|refusal| problem::refused(cqrs_es::AggregateError::UserError(refusal)))?;
        let client = self.state.lookup_connection().await?;
        let resolution =
            streams::first_of_type::<Conflict>(&client, &id.0.to_string(), "ConflictResolved").await?;
        drop(client);
        if resolution.is_some() {
            return Err(Problem::conflict("the conflict is already resolved"));
        }
        let status = if self.state.arbitrations.start(id.0) {
            let request = arbitration::Request {
                conflict_id: id.0,
                project_id,
                actor: principal.acting_user(),
                access,
                context: http::context(req, Some(principal.acting_user())).with_api_key(principal.api_key()),
            };
            let chain = arbitration::chain(&self.state.config, &self.state.model_client);
            tokio::spawn(arbitration::run(self.state.clone(), chain, request));
            "started"
        } else {
            "running"
        };
        Ok(ArbitrationStarted::Accepted(Json(Arbitration {
            conflict_id: id.0,
            status: status.to_owned(),
            chain: self.state.config.arbitrator_chain.clone(),
        })))
    }
}
