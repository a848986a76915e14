//! The signed-in user's preferences: partial update, export, import, reset.
//! Export reads the aggregate itself, so it always shows the latest write.

use std::sync::Arc;

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;
use zekka_domain::preferences::{Preferences, PreferencesCommand, Settings};
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Document, Shape};

use super::CommandTags;
use crate::app::dispatch;
use crate::app::state::CommandState;
use crate::http::{self, limits, problem};

/// The signed-in user's preferences.
pub struct PreferencesCommandApi {
    state: Arc<CommandState>,
}

/// The preferences after a change.
#[derive(Debug, Object)]
struct PreferencesWritten {
    /// Every preference, defaults included.
    preferences: Value,
    consistency_token: String,
}

#[derive(ApiResponse)]
enum Written {
    /// The change was recorded.
    #[oai(status = 200)]
    Ok(
        Json<PreferencesWritten>,
        #[oai(header = "X-Consistency-Token")] String,
    ),
}

#[derive(ApiResponse)]
enum ResetDone {
    /// Back to the defaults.
    #[oai(status = 204)]
    Done(#[oai(header = "X-Consistency-Token")] String),
}

impl PreferencesCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }

    async fn settings(&self, user: uuid::Uuid) -> Result<Settings, Problem> {
        let context = self
            .state
            .preferences
            .store()
            .state(&user.to_string())
            .await
            .map_err(problem::refused)?;
        Ok(context.settings)
    }

    async fn execute(
        &self,
        req: &Request,
        auth: &BearerAuth,
        command: PreferencesCommand,
        name: &'static str,
    ) -> Result<String, Problem> {
        let user = auth.0.user_id;
        limits::writes(&self.state, user).await?;
        let context = http::context(req, Some(user));
        let token = dispatch::execute::<Preferences>(
            &self.state.preferences,
            &user.to_string(),
            command,
            name,
            &context,
        )
        .await?;
        Ok(token.to_string())
    }

    async fn written(&self, auth: &BearerAuth, token: String) -> Result<Written, Problem> {
        let settings = self.settings(auth.0.user_id).await?;
        Ok(Written::Ok(
            Json(PreferencesWritten {
                preferences: settings.to_json(),
                consistency_token: token.clone(),
            }),
            token,
        ))
    }
}

/// The body of `PUT /preferences`: known keys with values of their type.
pub enum PreferencesPatch {}

impl Shape for PreferencesPatch {
    const NAME: &'static str = "PreferencesPatch";

    fn json_schema() -> Value {
        Settings::patch_schema()
    }
}

/// The body of `POST /preferences/import`: an exported document.
pub enum PreferencesDocument {}

impl Shape for PreferencesDocument {
    const NAME: &'static str = "PreferencesDocument";

    fn json_schema() -> Value {
        Settings::document_schema()
    }
}

/// The shapes the served OpenAPI document writes in place of their
/// placeholders.
pub fn shapes() -> Vec<(&'static str, Value)> {
    vec![
        (PreferencesPatch::NAME, PreferencesPatch::json_schema()),
        (PreferencesDocument::NAME, PreferencesDocument::json_schema()),
    ]
}

#[OpenApi(prefix_path = "/api/v1/preferences", tag = "CommandTags::Preferences")]
impl PreferencesCommandApi {
    /// Change some preferences. Only known keys with values of the right type
    /// are accepted (422 lists every other one, and nothing changes).
    #[oai(path = "/", method = "put", operation_id = "updatePreferences")]
    async fn update(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<Document<PreferencesPatch>>,
    ) -> Result<Written, Problem> {
        let token = self
            .execute(
                req,
                &auth,
                PreferencesCommand::Update { patch: body.0.value },
                "UpdatePreferences",
            )
            .await?;
        self.written(&auth, token).await
    }

    /// The preferences as a document that `/preferences/import` takes back.
    #[oai(path = "/export", method = "post", operation_id = "exportPreferences")]
    async fn export(&self, auth: BearerAuth) -> Result<Json<Value>, Problem> {
        Ok(Json(self.settings(auth.0.user_id).await?.to_document()))
    }

    /// Replace every preference with an exported document (all or nothing).
    #[oai(path = "/import", method = "post", operation_id = "importPreferences")]
    async fn import(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<Document<PreferencesDocument>>,
    ) -> Result<Written, Problem> {
        let token = self
            .execute(
                req,
                &auth,
                PreferencesCommand::Import {
                    document: body.0.value,
                },
                "ImportPreferences",
            )
            .await?;
        self.written(&auth, token).await
    }

    /// Back to the defaults.
    #[oai(path = "/reset", method = "delete", operation_id = "resetPreferences")]
    async fn reset(&self, req: &Request, auth: BearerAuth) -> Result<ResetDone, Problem> {
        let token = self
            .execute(req, &auth, PreferencesCommand::Reset, "ResetPreferences")
            .await?;
        Ok(ResetDone::Done(token))
    }
}
