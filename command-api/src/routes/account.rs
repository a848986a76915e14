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

/// Password-reset mails one account gets at most per hour: more requests
/// are answered alike and send nothing (security review F9).
pub const RESET_MAILS_PER_HOUR: i64 = 3;

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
        // The work happens after the answer, so an address with an account
        // and one without answer alike, in time as in status (security
        // review F9). A reset lost to a crash meanwhile is asked for again.
        let state = state.clone();
        let context = CommandContext::of(req, None);
        tokio::spawn(
            async move {
                if let Err(problem) = state.send_password_reset(&email, context).await {
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
        state.limit_auth_requests(req).await?;
        let (user_id, secret) = parse_token(RESET_PREFIX, &body.token)
            .ok_or_else(|| Problem::bad_request("the token is invalid"))?;
        let password = Password::parse(&body.new_password).map_err(Problem::invalid_field)?;
        let now = Utc::now();
        // The token first: a bad one costs no argon2 (security review F10),
        // and an unknown account reads as a bad token (F9).
        let user = state.load_user(&user_id.to_string()).await?.unwrap_or_default();
        user.check_reset_token(&secret_token::digest(secret), now)
            .map_err(|refusal| dispatch::refused(AggregateError::UserError(refusal)))?;
        let password_hash = password::hash(password)
            .await
            .map_err(|e| Problem::internal(&e))?;
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
    /// Mails a password-reset link to the account with `email`, if there
    /// is one and it was sent fewer than [`RESET_MAILS_PER_HOUR`] this hour.
    ///
    /// # Errors
    /// 503 or 500 when the store or the outbox fails.
    pub async fn send_password_reset(&self, email: &Email, context: CommandContext) -> Result<(), Problem> {
        let Some(user) = self.find_user_by_email(email.as_str()).await? else {
            return Ok(());
        };
        let Some(user_id) = user.id else {
            return Ok(());
        };
        if !self.mail_allowed("reset_mails", email.as_str()).await {
            tracing::info!(%user_id, "password-reset mail not sent: too many this hour");
            return Ok(());
        }
        let context = CommandContext {
            actor: Some(user_id),
            ..context
        };
        let secret = self
            .issue_one_time_token(
                user_id,
                self.config.password_reset_ttl,
                |token_hash, expires_at| UserCommand::RequestPasswordReset {
                    token_hash,
                    expires_at,
                },
                "RequestPasswordReset",
                &context,
            )
            .await?;
        let token = format!("{RESET_PREFIX}{user_id}_{secret}");
        let minutes = self.config.password_reset_ttl.as_secs() / 60;
        mailer::enqueue(
            &self.pool,
            &Mail {
                recipient: user.email.clone(),
                subject: "Reset your Zekka password".to_owned(),
                body: format!(
                    "Someone asked to reset the password of your Zekka account.\n\n\
                     To choose a new one, open this link within {minutes} minutes:\n\
                     {}/reset-password?token={token}\n\n\
                     If it was not you, ignore this mail; your password stays as it is.\n",
                    self.config.public_url
                ),
                purpose: "password_reset",
            },
        )
        .await
    }

    /// Whether one more mail of `kind` may go to `email` this hour (at most
    /// [`RESET_MAILS_PER_HOUR`]): no one can flood a mailbox through us.
    /// When Redis is unreachable the mail goes (logged).
    async fn mail_allowed(&self, kind: &str, email: &str) -> bool {
        let key = format!("{kind}:{}", secret_token::digest(email));
        match self
            .ephemeral
            .hit(&key, std::time::Duration::from_secs(3600))
            .await
        {
            Ok(window) => window.count <= RESET_MAILS_PER_HOUR,
            Err(error) => {
                tracing::warn!(%error, kind, "mail throttle not enforced");
                true
            }
        }
    }

    /// Records a one-time token of `user_id` good for `ttl` — only its
    /// digest, through the command `command` makes of it and its expiry —
    /// and returns the secret to mail.
    ///
    /// # Errors
    /// As the command's execution.
    async fn issue_one_time_token(
        &self,
        user_id: Uuid,
        ttl: std::time::Duration,
        command: impl FnOnce(String, chrono::DateTime<Utc>) -> UserCommand,
        name: &'static str,
        context: &CommandContext,
    ) -> Result<String, Problem> {
        let secret = crate::sessions::new_secret()?;
        let ttl = chrono::Duration::from_std(ttl).map_err(|e| Problem::internal(&e))?;
        let command = command(secret_token::digest(&secret), Utc::now() + ttl);
        dispatch::execute(
            &self.users,
            &self.pool,
            &user_id.to_string(),
            command,
            name,
            context,
        )
        .await?;
        Ok(secret)
    }

    /// Tells the owner of `email` that someone tried to register it again
    /// (at most [`RESET_MAILS_PER_HOUR`] such mails an hour). Failures are
    /// logged: the answer to the registration must not differ.
    pub async fn tell_of_second_registration(&self, email: &str) {
        if !self.mail_allowed("registration_notices", email).await {
            return;
        }
        let mail = Mail {
            recipient: email.to_owned(),
            subject: "Someone tried to sign up to Zekka with your address".to_owned(),
            body: format!(
                "Someone tried to create a Zekka account with this address, which already has one.\n\n\
                 If it was you, sign in at {0}, or reset your password at {0}/forgot-password.\n\
                 If it was not, you need do nothing: your account is unchanged.\n",
                self.config.public_url
            ),
            purpose: "registration_attempt",
        };
        if let Err(problem) = mailer::enqueue(&self.pool, &mail).await {
            tracing::warn!(error = %problem, "could not queue the registration notice");
        }
    }

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
        let secret = self
            .issue_one_time_token(
                user_id,
                self.config.email_verification_ttl,
                |token_hash, expires_at| UserCommand::RequestEmailVerification {
                    token_hash,
                    expires_at,
                },
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
