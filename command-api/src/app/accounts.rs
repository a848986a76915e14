//! Account mail: password-reset and verification tokens (only their
//! digests are stored, in the events that issue them) and the notice that
//! someone tried to register an address again, each at most a few an hour
//! per mailbox. Application logic that the account and auth routes share.
//!
//! Tokens look like `zkp_<user id>_<secret>` (reset) and
//! `zkv_<user id>_<secret>` (verification).

use chrono::Utc;
use uuid::Uuid;
use zekka_domain::user::{Email, UserCommand};
use zekka_platform::secret_token;

use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::mailer::{self, Mail};
use crate::app::sessions;
use crate::app::state::CommandState;

/// What a password-reset token starts with.
pub const RESET_PREFIX: &str = "zkp_";
/// What an email-verification token starts with.
pub const VERIFY_PREFIX: &str = "zkv_";

/// Password-reset mails one account gets at most per hour: more requests
/// are answered alike and send nothing (security review F9).
pub const RESET_MAILS_PER_HOUR: i64 = 3;

/// Mails a password-reset link to the account with `email`, if there
/// is one and it was sent fewer than [`RESET_MAILS_PER_HOUR`] this hour.
///
/// # Errors
/// 503 or 500 when the store or the outbox fails.
pub async fn send_password_reset(
    state: &CommandState,
    email: &Email,
    context: CommandContext,
) -> Result<(), AppError> {
    let Some(user) = sessions::find_user_by_email(state, email.as_str()).await? else {
        return Ok(());
    };
    let Some(user_id) = user.id else {
        return Ok(());
    };
    if !mail_allowed(state, "reset_mails", email.as_str()).await {
        tracing::info!(%user_id, "password-reset mail not sent: too many this hour");
        return Ok(());
    }
    let context = CommandContext {
        actor: Some(user_id),
        ..context
    };
    let secret = issue_one_time_token(
        state,
        user_id,
        state.config.password_reset_ttl,
        |token_hash, expires_at| UserCommand::RequestPasswordReset {
            token_hash,
            expires_at,
        },
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
    .await
}

/// Whether one more mail of `kind` may go to `email` this hour (at most
/// [`RESET_MAILS_PER_HOUR`]): no one can flood a mailbox through us.
/// When Redis is unreachable the mail goes (logged).
pub async fn mail_allowed(state: &CommandState, kind: &str, email: &str) -> bool {
    let key = format!("{kind}:{}", secret_token::digest(email));
    match state
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
    state: &CommandState,
    user_id: Uuid,
    ttl: std::time::Duration,
    command: impl FnOnce(String, chrono::DateTime<Utc>) -> UserCommand,
    name: &'static str,
    context: &CommandContext,
) -> Result<String, AppError> {
    let secret = crate::app::sessions::new_secret()?;
    let ttl = chrono::Duration::from_std(ttl).map_err(|e| AppError::internal(&e))?;
    let command = command(secret_token::digest(&secret), Utc::now() + ttl);
    dispatch::execute(&state.users, &user_id.to_string(), command, name, context).await?;
    Ok(secret)
}

/// Tells the owner of `email` that someone tried to register it again
/// (at most [`RESET_MAILS_PER_HOUR`] such mails an hour). Failures are
/// logged: the answer to the registration must not differ.
pub async fn tell_of_second_registration(state: &CommandState, email: &str) {
    if !mail_allowed(state, "registration_notices", email).await {
        return;
    }
    let mail = Mail {
        recipient: email.to_owned(),
        subject: "Someone tried to sign up to Zekka with your address".to_owned(),
        body: format!(
            "Someone tried to create a Zekka account with this address, which already has one.\n\n\
             If it was you, sign in at {0}, or reset your password at {0}/forgot-password.\n\
             If it was not, you need do nothing: your account is unchanged.\n",
            state.config.public_url
        ),
        purpose: "registration_attempt",
    };
    if let Err(problem) = mailer::enqueue(&state.pool, &mail).await {
        tracing::warn!(error = %problem, "could not queue the registration notice");
    }
}

/// Issues an email-verification token to `user_id` and mails it to `email`.
///
/// # Errors
/// 503 or 500 when the store or the database fails.
pub async fn send_email_verification(
    state: &CommandState,
    user_id: Uuid,
    email: &str,
    context: &CommandContext,
) -> Result<(), AppError> {
    let secret = issue_one_time_token(
        state,
        user_id,
        state.config.email_verification_ttl,
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
        &state.pool,
        &Mail {
            recipient: email.to_owned(),
            subject: "Confirm your email for Zekka".to_owned(),
            body: format!(
                "Welcome to Zekka.\n\nConfirm this address by opening:\n{}/verify-email?token={token}\n",
                state.config.public_url
            ),
            purpose: "email_verification",
        },
    )
    .await
}
