//! The project write routes: create, update, archive, members, stage.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::FieldError;
use zekka_domain::project::{
    Budget, Description, Project, ProjectCommand, ProjectName, ProjectStatus, Role, Stage,
};
use zekka_event_store::consistency::ConsistencyToken;
use zekka_event_store::lookups::positions;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Decimal, Label, OneOf, Prose, Text};
use zekka_platform::{Problem, money};

use super::{CommandTags, NoContent, Written, WrittenResponse};
use crate::app::dispatch;
use crate::app::state::CommandState;
use crate::http::fields::AllFields;
use crate::http::{self, limits, problem};

/// Creating and changing projects.
pub struct ProjectCommandApi {
    state: Arc<CommandState>,
}

impl ProjectCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }

    async fn execute(
        &self,
        req: &Request,
        auth: &BearerAuth,
        project_id: Uuid,
        command: ProjectCommand,
        name: &'static str,
    ) -> Result<ConsistencyToken, Problem> {
        limits::writes(&self.state, auth.0.user_id).await?;
        let context = http::context(req, Some(auth.0.user_id));
        Ok(dispatch::execute::<Project>(
            &self.state.projects,
            &project_id.to_string(),
            command,
            name,
            &context,
        )
        .await?)
    }
}

/// A new project.
#[derive(Debug, Object)]
struct CreateProjectRequest {
    /// 1 to 200 characters.
    name: Text<Label<{ ProjectName::MAX_CHARS }>>,
    /// Up to 10,000 characters.
    description: Option<Text<Prose<{ Description::MAX_CHARS }>>>,
    /// A budget in USD as a decimal string (`"250.00"`); none when absent.
    budget_usd: Option<Text<Decimal<12>>>,
}

/// The project as created.
#[derive(Debug, Object)]
struct CreatedProject {
    id: Uuid,
    name: String,
    description: String,
    owner_id: Uuid,
    budget_usd: Option<String>,
    spent_usd: String,
    stage: String,
    status: String,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

/// Changes to a project; absent fields stay as they are, and
/// `"budget_usd": null` removes the budget.
#[derive(Debug, Object)]
struct UpdateProjectRequest {
    name: Option<Text<Label<{ ProjectName::MAX_CHARS }>>>,
    description: Option<Text<Prose<{ Description::MAX_CHARS }>>>,
    budget_usd: MaybeUndefined<Text<Decimal<12>>>,
}

/// A member to add, or whose role to change.
#[derive(Debug, Object)]
struct AddMemberRequest {
    user_id: Uuid,
    /// owner, admin, member or viewer.
    role: Text<OneOf<Role>>,
}

/// A membership as written.
#[derive(Debug, Object)]
struct Membership {
    project_id: Uuid,
    user_id: Uuid,
    role: String,
    consistency_token: String,
}

/// The stage to move to: the next one in the workflow.
#[derive(Debug, Object)]
struct AdvanceStageRequest {
    stage: Text<OneOf<Stage>>,
}

/// The stage after the move.
#[derive(Debug, Object)]
struct StageAdvanced {
    id: Uuid,
    stage: String,
    consistency_token: String,
}

#[derive(ApiResponse)]
enum CreateProjectResponse {
    /// The project was created.
    #[oai(status = 201)]
    Created(
        Json<CreatedProject>,
        #[oai(header = "X-Consistency-Token")] String,
    ),
}

#[derive(ApiResponse)]
enum MembershipResponse {
    /// The membership was recorded.
    #[oai(status = 200)]
    Ok(Json<Membership>, #[oai(header = "X-Consistency-Token")] String),
}

#[derive(ApiResponse)]
enum StageResponse {
    /// The project moved on.
    #[oai(status = 200)]
    Ok(Json<StageAdvanced>, #[oai(header = "X-Consistency-Token")] String),
}

fn parse_budget(raw: Option<&str>) -> Result<Option<Budget>, FieldError> {
    raw.map(Budget::parse).transpose()
}

fn optional<T>(
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    raw.map(parse).transpose()
}

#[OpenApi(prefix_path = "/api/v1/projects", tag = "CommandTags::Projects")]
impl ProjectCommandApi {
    /// Create a project; the caller becomes its owner.
    #[oai(path = "/", method = "post", operation_id = "createProject")]
    async fn create(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<CreateProjectRequest>,
    ) -> Result<CreateProjectResponse, Problem> {
        let (name, description, budget) = (
            ProjectName::parse(&body.name),
            Description::parse(body.description.as_deref().unwrap_or_default()),
            parse_budget(body.budget_usd.as_deref()),
        )
            .all()
            .map_err(problem::invalid)?;
        let project_id = Uuid::now_v7();
        let created = CreatedProject {
            id: project_id,
            name: name.as_str().to_owned(),
            description: description.as_str().to_owned(),
            owner_id: auth.0.user_id,
            budget_usd: budget.map(|b| money::to_wire(b.amount())),
            spent_usd: money::to_wire(rust_decimal::Decimal::ZERO),
            stage: Stage::Requirements.as_str().to_owned(),
            status: ProjectStatus::Active.as_str().to_owned(),
            consistency_token: String::new(),
        };
        let command = ProjectCommand::Create {
            project_id,
            name,
            description,
            budget,
            owner_id: auth.0.user_id,
        };
        let token = self
            .execute(req, &auth, project_id, command, "CreateProject")
            .await?
            .to_string();
        Ok(CreateProjectResponse::Created(
            Json(CreatedProject {
                consistency_token: token.clone(),
                ..created
            }),
            token,
        ))
    }

    /// Change a project's name, description or budget (owner or admin).
    #[oai(path = "/:id", method = "put", operation_id = "updateProject")]
    async fn update(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<UpdateProjectRequest>,
    ) -> Result<WrittenResponse, Problem> {
        let budget = match &body.budget_usd {
            MaybeUndefined::Undefined => Ok(None),
            MaybeUndefined::Null => Ok(Some(None)),
            MaybeUndefined::Value(raw) => Budget::parse(raw).map(|b| Some(Some(b))),
        };
        let (name, description, budget) = (
            optional(body.name.as_deref(), ProjectName::parse),
            optional(body.description.as_deref(), Description::parse),
            budget,
        )
            .all()
            .map_err(problem::invalid)?;
        let command = ProjectCommand::Update {
            actor: auth.0.user_id,
            name,
            description,
            budget,
        };
        let token = self
            .execute(req, &auth, id.0, command, "UpdateProject")
            .await?
            .to_string();
        Ok(Written::ok(id.0, token))
    }

    /// Archive a project (owner only). It stays readable.
    #[oai(path = "/:id", method = "delete", operation_id = "archiveProject")]
    async fn archive(&self, req: &Request, auth: BearerAuth, id: Path<Uuid>) -> Result<NoContent, Problem> {
        let command = ProjectCommand::Archive {
            actor: auth.0.user_id,
        };
        let token = self.execute(req, &auth, id.0, command, "ArchiveProject").await?;
        Ok(NoContent::Done(token.to_string()))
    }

    /// Add a member, or change a member's role (owner or admin; only owners grant ownership).
    #[oai(path = "/:id/members", method = "post", operation_id = "addProjectMember")]
    async fn add_member(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AddMemberRequest>,
    ) -> Result<MembershipResponse, Problem> {
        let role: Role = body.role.parse().map_err(Problem::invalid_field)?;
        if !self.user_exists(body.user_id).await? {
            return Err(Problem::invalid_field(FieldError::new(
                "user_id",
                "no user has this id",
            )));
        }
        let command = ProjectCommand::AddMember {
            actor: auth.0.user_id,
            user_id: body.user_id,
            role,
        };
        let token = self
            .execute(req, &auth, id.0, command, "AddProjectMember")
            .await?
            .to_string();
        Ok(MembershipResponse::Ok(
            Json(Membership {
                project_id: id.0,
                user_id: body.user_id,
                role: role.as_str().to_owned(),
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Remove a member (owner or admin; the project's owner stays).
    #[oai(
        path = "/:id/members/:user_id",
        method = "delete",
        operation_id = "removeProjectMember"
    )]
    async fn remove_member(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<NoContent, Problem> {
        let command = ProjectCommand::RemoveMember {
            actor: auth.0.user_id,
            user_id: user_id.0,
        };
        let token = self
            .execute(req, &auth, id.0, command, "RemoveProjectMember")
            .await?;
        Ok(NoContent::Done(token.to_string()))
    }

    /// Move the project to the next workflow stage (owner or admin).
    #[oai(path = "/:id/stage", method = "post", operation_id = "advanceProjectStage")]
    async fn advance_stage(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AdvanceStageRequest>,
    ) -> Result<StageResponse, Problem> {
        let stage: Stage = body.stage.parse().map_err(Problem::invalid_field)?;
        let command = ProjectCommand::AdvanceStage {
            actor: auth.0.user_id,
            stage,
        };
        let token = self
            .execute(req, &auth, id.0, command, "AdvanceProjectStage")
            .await?
            .to_string();
        Ok(StageResponse::Ok(
            Json(StageAdvanced {
                id: id.0,
                stage: stage.as_str().to_owned(),
                consistency_token: token.clone(),
            }),
            token,
        ))
    }
}

impl ProjectCommandApi {
    /// Whether a user account exists, read from the event store itself so a
    /// just-registered user can be added at once.
    async fn user_exists(&self, user_id: Uuid) -> Result<bool, Problem> {
        let client = self.state.lookup_connection().await?;
        Ok(positions::stream_exists(&client, "User", &user_id.to_string()).await?)
    }
}
