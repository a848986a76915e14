//! Password reset and email verification: one-time tokens sent by mail.
//!
//! Tokens look like `zkp_<user id>_<secret>` (reset) and `zkv_<user id>_<secret>`
//! (verification); only the secret's digest is stored, in the event that
//! issued it.

use std::sync::Arc;

use chrono::Utc;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::user::{Email, Password, UserCommand};
use zekka_platform::input::{NewPassword, Text};
use zekka_platform::{Problem, password, secret_token};

use super::CommandTags;
use crate::dispatch::{self, CommandContext};
use crate::mailer::{self, Mail};
use crate::state::CommandState;

const RESET_PREFIX: &str = "zkp_";
const VERIFY_PREFIX: &str = "zkv_";

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
    email: Text,
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
        state.limit_auth_requests(req).await?;
        Email::for_lookup(&body.email).map_err(Problem::invalid_field)?;
        let Ok(email) = Email::parse(&body.email) else {
            return Ok(Accepted::Accepted);
        };
        let Some(user) = state.find_user_by_email(email.as_str()).await? else {
            return Ok(Accepted::Accepted);
        };
        let Some(user_id) = user.id else {
            return Ok(Accepted::Accepted);
        };
        let context = CommandContext::of(req, Some(user_id));
        let secret = crate::sessions::new_secret()?;
        let ttl =
            chrono::Duration::from_std(state.config.password_reset_ttl).map_err(|e| Problem::internal(&e))?;
        let command = UserCommand::RequestPasswordReset {
            token_hash: secret_token::digest(&secret),
            expires_at: Utc::now() + ttl,
        };
        dispatch::execute(
            &state.users,
            &state.pool,
            &user_id.to_string(),
            command,
            "RequestPasswordReset",
            &context,
        )
        .await?;
        let token = format!("{RESET_PREFIX}{user_id}_{secret}");
        let minutes = state.config.password_reset_ttl.as_secs() / 60;
        mailer::enqueue(
            &state.pool,
            &Mail {
                recipient: user.email.clone(),
                subject: "Reset your Zekka password".to_owned(),
                body: format!(
                    "Someone asked to reset the password of your Zekka account.\n\n\
                     To choose a new one, open this link within {minutes} minutes:\n\
                     {}/reset-password?token={token}\n\n\
                     If it was not you, ignore this mail; your password stays as it is.\n",
                    state.config.public_url
                ),
                purpose: "password_reset",
            },
        )
        .await?;
        Ok(Accepted::Accepted)
    }

    /// Set a new password with the token from the reset mail. Every session
    /// of the account ends.
    #[oai(path = "/reset-password", method = "post", operation_id = "resetPassword")]
    async fn reset_password(&self, req: &Request, body: Json<ResetPasswordRequest>) -> Result<Done, Problem> {
        let state = &self.state;
        state.limit_auth_requests(req).await?;
        let (user_id, secret) = parse_token(RESET_PREFIX, &body.token)
            .ok_or_else(|| Problem::bad_request("the token is invalid"))?;
        let password = Password::parse(&body.new_password).map_err(Problem::invalid_field)?;
        let password_hash = password::hash(password)
            .await
            .map_err(|e| Problem::internal(&e))?;
        let now = Utc::now();
        let context = CommandContext::of(req, Some(user_id));
        let command = UserCommand::ResetPassword {
            token_hash: secret_token::digest(secret),
            password_hash,
            now,
        };
        let token = dispatch::execute(
            &state.users,
            &state.pool,
            &user_id.to_string(),
            command,
            "ResetPassword",
            &context,
        )
        .await?;
        state
            .revocations
            .revoke_user_tokens(user_id, now)
            .await
            .map_err(|e| Problem::unavailable(e.to_string(), 2))?;
        tracing::info!(%user_id, "password reset; every session revoked");
        Ok(Done::Done(token.to_string()))
    }

    /// Confirm the email address with the token from the verification mail.
    #[oai(path = "/verify-email", method = "post", operation_id = "verifyEmail")]
    async fn verify_email(&self, req: &Request, body: Json<VerifyEmailRequest>) -> Result<Done, Problem> {
        let state = &self.state;
        state.limit_auth_requests(req).await?;
        let (user_id, secret) = parse_token(VERIFY_PREFIX, &body.token)
            .ok_or_else(|| Problem::bad_request("the token is invalid"))?;
        let context = CommandContext::of(req, Some(user_id));
        let command = UserCommand::VerifyEmail {
            token_hash: secret_token::digest(secret),
            now: Utc::now(),
        };
        let token = dispatch::execute(
            &state.users,
            &state.pool,
            &user_id.to_string(),
            command,
            "VerifyEmail",
            &context,
        )
        .await?;
        Ok(Done::Done(token.to_string()))
    }
}

impl CommandState {
    /// Issues an email-verification token to `user_id` and mails it to `email`.
    ///
    /// # Errors
    /// 503 or 500 when the store or the database fails.
    pub async fn send_email_verification(
        &self,
        user_id: Uuid,
        email: &str,
        context: &CommandContext,
    ) -> Result<(), Problem> {
        let secret = crate::sessions::new_secret()?;
        let ttl = chrono::Duration::from_std(self.config.email_verification_ttl)
            .map_err(|e| Problem::internal(&e))?;
        let command = UserCommand::RequestEmailVerification {
            token_hash: secret_token::digest(&secret),
            expires_at: Utc::now() + ttl,
        };
        dispatch::execute(
            &self.users,
            &self.pool,
            &user_id.to_string(),
            command,
            "RequestEmailVerification",
            context,
        )
        .await?;
        let token = format!("{VERIFY_PREFIX}{user_id}_{secret}");
        mailer::enqueue(
            &self.pool,
            &Mail {
                recipient: email.to_owned(),
                subject: "Confirm your email for Zekka".to_owned(),
                body: format!(
                    "Welcome to Zekka.\n\nConfirm this address by opening:\n{}/verify-email?token={token}\n",
                    self.config.public_url
                ),
                purpose: "email_verification",
            },
        )
        .await
    }
}
