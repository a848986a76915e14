//! Password reset and email verification: one-time tokens sent by mail.
//!
//! Tokens look like `zkp_<user id>_<secret>` (reset) and `zkv_<user id>_<secret>`
//! (verification); only the secret's digest is stored, in the event that
//! issued it.

use std::sync::Arc;

use chrono::Utc;
use cqrs_es::AggregateError;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tracing::Instrument;
use uuid::Uuid;
use zekka_domain::user::{Email, Password, UserCommand};
use zekka_platform::input::{NewPassword, Plain, Text};
use zekka_platform::{Problem, password, secret_token};

use super::CommandTags;
use crate::app::accounts;
use crate::app::dispatch;
use crate::app::sessions;

use crate::app::state::CommandState;
use crate::http::{self, limits, problem};

use crate::app::accounts::{RESET_PREFIX, VERIFY_PREFIX};

/// Password reset and email verification.
pub struct AccountApi {
    state: Arc<CommandState>,
}

impl AccountApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// Whose password to reset.
#[derive(Debug, Object)]
struct ForgotPasswordRequest {
    /// Any text: the answer is the same whether or not it names an account.
    email: Text<Plain>,
}

/// A reset token from the mail, and the new password.
#[derive(Debug, Object)]
struct ResetPasswordRequest {
    token: Text,
    /// At least 12 characters.
    new_password: Text<NewPassword>,
}

/// A verification token from the mail.
#[derive(Debug, Object)]
struct VerifyEmailRequest {
    token: Text,
}

#[derive(ApiResponse)]
enum Accepted {
    /// If the address has an account, a mail is on its way.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    Done(#[oai(header = "X-Consistency-Token")] String),
}

fn parse_token<'a>(prefix: &str, token: &'a str) -> Option<(Uuid, &'a str)> {
    let (user, secret) = token.trim().strip_prefix(prefix)?.split_once('_')?;
    Some((Uuid::parse_str(user).ok()?, secret))
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "CommandTags::Auth")]
impl AccountApi {
    /// Ask for a password-reset mail. Answers 202 whether or not the email
    /// has an account.
    #[oai(path = "/forgot-password", method = "post", operation_id = "forgotPassword")]
    async fn forgot_password(
        &self,
        req: &Request,
        body: Json<ForgotPasswordRequest>,
    ) -> Result<Accepted, Problem> {
        let state = &self.state;
        limits::auth_requests(state, req).await?;
        Email::for_lookup(&body.email).map_err(Problem::invalid_field)?;
        let Ok(email) = Email::parse(&body.email) else {
            return Ok(Accepted::Accepted);
        };
        // The work happens after the answer, so an address with an account
        // and one without answer alike, in time as in status (security
        // review F9). A reset lost to a crash meanwhile is asked for again.
        let state = state.clone();
        let context = http::context(req, None);
        tokio::spawn(
            async move {
                if let Err(problem) = accounts::send_password_reset(&state, &email, context).await {
                    tracing::warn!(error = %problem, "could not send a password-reset mail");
                }
            }
            .in_current_span(),
        );
        Ok(Accepted::Accepted)
    }

    /// Set a new password with the token from the reset mail. Every session
    /// of the account ends.
    #[oai(path = "/reset-password", method = "post", operation_id = "resetPassword")]
    async fn reset_password(&self, req: &Request, body: Json<ResetPasswordRequest>) -> Result<Done, Problem> {
        let state = &self.state;
        limits::auth_requests(state, req).await?;
        let (user_id, secret) = parse_token(RESET_PREFIX, &body.token)
            .ok_or_else(|| Problem::bad_request("the token is invalid"))?;
        let password = Password::parse(&body.new_password).map_err(Problem::invalid_field)?;
        let now = Utc::now();
        // The token first: a bad one costs no argon2 (security review F10),
        // and an unknown account reads as a bad token (F9).
        let user = sessions::load_user(state, &user_id.to_string())
            .await?
            .unwrap_or_default();
        user.check_reset_token(&secret_token::digest(secret), now)
            .map_err(|refusal| problem::refused(AggregateError::UserError(refusal)))?;
        let password_hash = password::hash(password)
            .await
            .map_err(|e| Problem::internal(&e))?;
        let context = http::context(req, Some(user_id));
        let command = UserCommand::ResetPassword {
            token_hash: secret_token::digest(secret),
            password_hash,
            now,
        };
        let token = dispatch::execute(
            &state.users,
            &user_id.to_string(),
            command,
            "ResetPassword",
            &context,
        )
        .await?;
        sessions::revoke_every_token(state, user_id, now).await?;
        tracing::info!(%user_id, "password reset; every session revoked");
        Ok(Done::Done(token.to_string()))
    }

    /// Confirm the email address with the token from the verification mail.
    #[oai(path = "/verify-email", method = "post", operation_id = "verifyEmail")]
    async fn verify_email(&self, req: &Request, body: Json<VerifyEmailRequest>) -> Result<Done, Problem> {
        let state = &self.state;
        limits::auth_requests(state, req).await?;
        let (user_id, secret) = parse_token(VERIFY_PREFIX, &body.token)
            .ok_or_else(|| Problem::bad_request("the token is invalid"))?;
        let context = http::context(req, Some(user_id));
        let command = UserCommand::VerifyEmail {
            token_hash: secret_token::digest(secret),
            now: Utc::now(),
        };
        let token = dispatch::execute(
            &state.users,
            &user_id.to_string(),
            command,
            "VerifyEmail",
            &context,
        )
        .await?;
        Ok(Done::Done(token.to_string()))
    }
}
