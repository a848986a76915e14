//! `PATCH /users/me`, `POST /users/me/password` and
//! `DELETE /users/me/sessions/{session_id}`: a signed-in person looking
//! after their own account.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::FieldError;
use zekka_domain::user::{DisplayName, Password};
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Label, NewPassword, Text};

use super::{CommandTags, NoContent};
use crate::app::profile;
use crate::app::sessions;
use crate::app::state::CommandState;
use crate::http::{self, limits};

/// The signed-in person's own account.
pub struct ProfileApi {
    state: Arc<CommandState>,
}

impl ProfileApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// What to change; fields left out stay as they are.
#[derive(Debug, Object)]
struct ProfileUpdate {
    /// The name other people see.
    display_name: Option<Text<Label<{ DisplayName::MAX_CHARS }>>>,
}

/// The account after the change.
#[derive(Debug, Object)]
struct Profile {
    user_id: Uuid,
    email: String,
    display_name: String,
    email_verified: bool,
    /// System roles (`admin`, `auditor`) the account holds.
    roles: Vec<String>,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum ProfileResponse {
    /// The profile as it is now.
    #[oai(status = 200)]
    Ok(Json<Profile>, #[oai(header = "X-Consistency-Token")] String),
}

/// The current password, and the new one.
#[derive(Debug, Object)]
struct PasswordChange {
    current_password: Text,
    /// At least 12 characters.
    new_password: Text<NewPassword>,
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "CommandTags::Account")]
impl ProfileApi {
    /// Change my profile (the name others see).
    #[oai(path = "/me", method = "patch", operation_id = "updateMe")]
    async fn update(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<ProfileUpdate>,
    ) -> Result<ProfileResponse, Problem> {
        let state = &self.state;
        let user_id = auth.0.user_id;
        limits::writes(state, user_id).await?;
        let display_name = body
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()
            .map_err(Problem::invalid_field)?;
        let context = http::context(req, Some(user_id));
        let token = match display_name {
            Some(name) => profile::rename(state, user_id, name, &context).await?,
            None => crate::app::dispatch::head_position(&state.reads).await?,
        };
        let user = sessions::load_user(state, &user_id.to_string())
            .await?
            .ok_or_else(|| Problem::not_found("no such account"))?;
        let token = token.to_string();
        Ok(ProfileResponse::Ok(
            Json(Profile {
                user_id,
                roles: sessions::system_roles(state, &user),
                email: user.email,
                display_name: user.display_name,
                email_verified: user.email_verified,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Change my password, proving the current one. Every other session
    /// ends at once; this one goes on. A wrong current password is a 403
    /// and counts as a failed sign-in.
    #[oai(path = "/me/password", method = "post", operation_id = "changeMyPassword")]
    async fn change_password(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<PasswordChange>,
    ) -> Result<NoContent, Problem> {
        let state = &self.state;
        limits::auth_requests(state, req).await?;
        let new = Password::parse(&body.new_password).map_err(Problem::invalid_field)?;
        if body.current_password.as_str() == body.new_password.as_str() {
            return Err(Problem::invalid_field(FieldError::new(
                "new_password",
                "must differ from the current password",
            )));
        }
        let user_id = auth.0.user_id;
        let context = http::context(req, Some(user_id));
        let token = profile::change_password(
            state,
            user_id,
            auth.0.session_id,
            &body.current_password,
            new,
            &context,
        )
        .await?;
        Ok(NoContent::Done(token.to_string()))
    }

    /// End one of my sessions (from `GET /users/me/sessions`): its refresh
    /// token and access tokens stop working at once.
    #[oai(
        path = "/me/sessions/:session_id",
        method = "delete",
        operation_id = "endMySession"
    )]
    async fn end_session(
        &self,
        req: &Request,
        auth: BearerAuth,
        session_id: Path<Uuid>,
    ) -> Result<NoContent, Problem> {
        let state = &self.state;
        let user_id = auth.0.user_id;
        limits::writes(state, user_id).await?;
        let context = http::context(req, Some(user_id));
        let token = profile::end_session(state, user_id, session_id.0, &context).await?;
        Ok(NoContent::Done(token.to_string()))
    }
}
