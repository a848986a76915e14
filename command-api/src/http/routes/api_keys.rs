//! Project API keys: issued by a project's owners and admins (the key is
//! shown once, only its digest is kept) and revoked, with effect on every
//! process at once (`zekka_platform::api_keys`). Both are events on the
//! project, so the audit trail shows who issued and revoked which key.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::FieldError;
use zekka_domain::project::{Project, ProjectCommand, Scope};
use zekka_domain::shared::text::Label;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Label as LabelText, OneOf, Text};
use zekka_platform::{Problem, api_keys};

use super::{CommandTags, NoContent};
use crate::app::access;
use crate::app::dispatch;
use crate::app::state::CommandState;
use crate::http::fields::AllFields;
use crate::http::{self, limits, problem};

/// Issuing and revoking project API keys.
pub struct ApiKeyCommandApi {
    state: Arc<CommandState>,
}

impl ApiKeyCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// A key to issue.
#[derive(Debug, Object)]
struct CreateApiKeyRequest {
    /// What it is for: 1 to 100 characters.
    name: Text<LabelText<{ Label::MAX_CHARS }>>,
    /// What it may do; at least one.
    scopes: Vec<Text<OneOf<Scope>>>,
    /// The one agent of the project it acts for; none: any of them.
    agent_id: Option<Uuid>,
}

/// The issued key. `key` is shown here only: keep it now.
#[derive(Debug, Object)]
struct CreatedApiKey {
    id: Uuid,
    /// `Authorization: Bearer <key>`; not shown again.
    key: String,
    name: String,
    scopes: Vec<String>,
    agent_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum ApiKeyCreated {
    /// The key was issued.
    #[oai(status = 201)]
    Created(Json<CreatedApiKey>, #[oai(header = "X-Consistency-Token")] String),
}

#[OpenApi(prefix_path = "/api/v1/projects", tag = "CommandTags::Projects")]
impl ApiKeyCommandApi {
    /// Issue an API key for the project (owner or admin). The answer is the
    /// only place the key is ever shown.
    #[oai(path = "/:id/api-keys", method = "post", operation_id = "createApiKey")]
    async fn create(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<CreateApiKeyRequest>,
    ) -> Result<ApiKeyCreated, Problem> {
        let state = &self.state;
        limits::writes(state, auth.0.user_id).await?;
        let scopes: Result<Vec<Scope>, FieldError> = body.scopes.iter().map(|s| s.parse()).collect();
        let (name, scopes) = (Label::parse("name", &body.name), scopes)
            .all()
            .map_err(problem::invalid)?;
        if let Some(agent) = body.agent_id
            && access::owning_project(state, "Agent", agent).await? != Some(id.0)
        {
            return Err(Problem::invalid_field(FieldError::new(
                "agent_id",
                "no agent of this project has this id",
            )));
        }
        let issued = api_keys::issue().map_err(|e| Problem::internal(&e))?;
        let command = ProjectCommand::CreateApiKey {
            actor: auth.0.user_id,
            key_id: issued.key_id,
            name: name.clone(),
            scopes: scopes.clone(),
            agent_id: body.agent_id,
            secret_digest: issued.secret_digest,
        };
        let context = http::context(req, Some(auth.0.user_id));
        let token = dispatch::execute::<Project>(
            &state.projects,
            &id.0.to_string(),
            command,
            "CreateApiKey",
            &context,
        )
        .await?
        .to_string();
        let mut scopes: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
        scopes.sort();
        scopes.dedup();
        Ok(ApiKeyCreated::Created(
            Json(CreatedApiKey {
                id: issued.key_id,
                key: issued.key,
                name: name.as_str().to_owned(),
                scopes,
                agent_id: body.agent_id,
                created_at: Utc::now(),
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Revoke an API key (owner or admin): every process refuses it from
    /// the answer on. Revoking a revoked key changes nothing.
    #[oai(
        path = "/:id/api-keys/:key_id",
        method = "delete",
        operation_id = "revokeApiKey"
    )]
    async fn revoke(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        key_id: Path<Uuid>,
    ) -> Result<NoContent, Problem> {
        let state = &self.state;
        limits::writes(state, auth.0.user_id).await?;
        let context = http::context(req, Some(auth.0.user_id));
        // The command first: it checks the caller may revoke this key.
        let token = dispatch::execute::<Project>(
            &state.projects,
            &id.0.to_string(),
            ProjectCommand::RevokeApiKey {
                actor: auth.0.user_id,
                key_id: key_id.0,
            },
            "RevokeApiKey",
            &context,
        )
        .await?;
        // Then the deny-list every process checks. Should it be out of
        // reach, the revocation is stored and a retry of this request
        // finishes it; until then processes refuse the key once they read
        // it again (within a minute).
        state.api_keys.revoke(key_id.0).await.map_err(|e| {
            Problem::unavailable(format!("the key is revoked, but not yet everywhere: {e}"), 2)
        })?;
        Ok(NoContent::Done(token.to_string()))
    }
}
