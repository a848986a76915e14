//! Signing people in: finding accounts, the lockout, starting and rotating
//! sessions, and the system roles an access token carries.

use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use uuid::Uuid;
use zekka_domain::session::{RevocationReason, Session, SessionCommand, SessionError, SignInClient};
use zekka_domain::user::User;
use zekka_event_store::lookups::users;
use zekka_platform::secret_token;
use zekka_platform::tokens::IssuedToken;

use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::state::CommandState;

/// Refresh tokens look like `zkr_<session id>_<secret>`: the session is found
/// without a lookup table, and only the secret's digest is stored.
const REFRESH_PREFIX: &str = "zkr_";

/// A new pair of tokens.
pub struct IssuedSession {
    /// The access token.
    pub access: IssuedToken,
    /// The refresh token (shown once).
    pub refresh_token: String,
    /// The session it belongs to.
    pub session_id: Uuid,
}

/// Splits a refresh token into its session id and secret.
pub fn parse_refresh_token(token: &str) -> Option<(Uuid, &str)> {
    let rest = token.trim().strip_prefix(REFRESH_PREFIX)?;
    let (session, secret) = rest.split_once('_')?;
    let session = Uuid::parse_str(session).ok()?;
    (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit())).then_some((session, secret))
}

/// A fresh one-time secret (500 if the random source fails).
///
/// # Errors
/// 500 when the operating system's random source fails.
pub fn new_secret() -> Result<String, AppError> {
    secret_token::generate().map_err(|e| AppError::internal(&std::io::Error::other(e.to_string())))
}

/// The account registered with `email` (normalised), read through the
/// unique blind index of the email in the event store, so a sign-in
/// right after registration never misses it. (Accounts registered
/// before emails were sealed are found by their plaintext email.)
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn find_user_by_email(state: &CommandState, email: &str) -> Result<Option<User>, AppError> {
    match email_holder(state, email).await? {
        EmailHolder::Live(id) => load_user(state, &id.to_string()).await,
        EmailHolder::Free(_) => Ok(None),
    }
}

/// The most accounts one address may have held and had erased: far more
/// than anyone registers and erases.
const EMAIL_GENERATIONS: u32 = 1_000;

/// Who holds an address now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailHolder {
    /// A live account.
    Live(Uuid),
    /// Nobody: a registration takes this generation of the blind index
    /// (past every erased account that held it).
    Free(u32),
}

/// Who holds `email` (normalised): walks the generations of its blind
/// index past the erased accounts that held it (each erasure moves the
/// address to the next generation).
///
/// # Errors
/// 503 or 500 when the database fails; 409 for an address erased more
/// than [`EMAIL_GENERATIONS`] times.
pub async fn email_holder(state: &CommandState, email: &str) -> Result<EmailHolder, AppError> {
    let client = state.lookup_connection().await?;
    for generation in 0..EMAIL_GENERATIONS {
        let index = state.personal.email_index_at(email, generation);
        let legacy = (generation == 0).then_some(email);
        match users::by_email(&client, &index, legacy).await? {
            None => return Ok(EmailHolder::Free(generation)),
            Some(found) if !found.erased => return Ok(EmailHolder::Live(found.user_id)),
            Some(_) => {}
        }
    }
    Err(AppError::conflict("this address cannot register again"))
}

/// The account `id`, if it exists (an erased person's does not).
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn load_user(state: &CommandState, id: &str) -> Result<Option<User>, AppError> {
    let context = state.users.store().state(id).await.map_err(AppError::from)?;
    let user = context;
    Ok((user.id.is_some() && !user.erased).then_some(user))
}

/// The session `id`, if it exists.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn load_session(state: &CommandState, id: Uuid) -> Result<Option<Session>, AppError> {
    let context = state
        .sessions
        .store()
        .state(&id.to_string())
        .await
        .map_err(AppError::from)?;
    Ok(context.id.is_some().then_some(context))
}

/// The system roles of `user`, as its access tokens carry them: those
/// an operator granted (`zekka users grant-role`), and `admin` for
/// `ZEKKA_ADMIN_EMAILS`, `auditor` for `ZEKKA_AUDITOR_EMAILS`, once the
/// email is verified (security review F8).
pub fn system_roles(state: &CommandState, user: &User) -> Vec<String> {
    user.system_roles(&state.config.admin_emails, &state.config.auditor_emails)
        .into_iter()
        .map(|role| role.as_str().to_owned())
        .collect()
}

/// Starts a session for `user`: a new refresh-token family and an access token.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn start_session(
    state: &CommandState,
    user: &User,
    context: &CommandContext,
) -> Result<IssuedSession, AppError> {
    let user_id = user
        .id
        .ok_or_else(|| AppError::unauthorized("invalid email or password"))?;
    let session_id = Uuid::now_v7();
    let secret = new_secret()?;
    let now = Utc::now();
    let command = SessionCommand::Start {
        session_id,
        user_id,
        refresh_hash: secret_token::digest(&secret),
        expires_at: refresh_expiry(state, now, now)?,
        client: SignInClient {
            ip: context.client.ip.clone(),
            user_agent: context.client.user_agent.clone(),
        },
        now,
    };
    dispatch::execute(
        &state.sessions,
        &session_id.to_string(),
        command,
        "StartSession",
        context,
    )
    .await?;
    let roles = system_roles(state, user);
    let access = state
        .signer
        .issue(user_id, Some(session_id), &roles)
        .map_err(|e| AppError::internal(e.as_ref()))?;
    Ok(IssuedSession {
        access,
        refresh_token: format!("{REFRESH_PREFIX}{session_id}_{secret}"),
        session_id,
    })
}

/// When a refresh token issued at `now`, of a session started at
/// `started_at`, expires: a refresh token's lifetime later, but never
/// after the session's end.
///
/// # Errors
/// 500 when the configured lifetime overflows.
pub fn refresh_expiry(
    state: &CommandState,
    now: DateTime<Utc>,
    started_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, AppError> {
    let ttl =
        chrono::Duration::from_std(state.config.refresh_token_ttl).map_err(|e| AppError::internal(&e))?;
    Ok((now + ttl).min(session_end(state, started_at)?))
}

/// When a session started at `started_at` ends for good, refreshed or
/// not (`SESSION_MAX_AGE`; security review F17).
///
/// # Errors
/// 500 when the configured lifetime overflows.
pub fn session_end(state: &CommandState, started_at: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    chrono::Duration::from_std(state.config.session_max_age)
        .map(|age| started_at + age)
        .map_err(|e| AppError::internal(&e))
}

/// A fresh secret for a rotated refresh token and its full token text.
///
/// # Errors
/// 500 when the random source fails.
pub fn next_refresh_token(session_id: Uuid) -> Result<(String, String), AppError> {
    let secret = new_secret()?;
    Ok((
        format!("{REFRESH_PREFIX}{session_id}_{secret}"),
        secret_token::digest(&secret),
    ))
}

/// Ends every access token `user` was issued before `now`, at once on every
/// process (the deny-list): after a password reset or an erasure.
///
/// # Errors
/// 503 when the shared state store is down.
pub async fn revoke_every_token(
    state: &CommandState,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    state
        .revocations
        .revoke_user_tokens(user, now)
        .await
        .map_err(|e| AppError::unavailable(e.to_string(), 2))
}

/// Ends a session: its refresh tokens stop working (an event), and its
/// access tokens at once on every process (the deny-list).
///
/// # Errors
/// 503 when the shared state store or the database is down.
pub async fn revoke_session(
    state: &CommandState,
    session_id: Uuid,
    reason: RevocationReason,
    context: &CommandContext,
) -> Result<(), AppError> {
    state
        .revocations
        .revoke_session(session_id)
        .await
        .map_err(|e| AppError::unavailable(e.to_string(), 2))?;
    let outcome = dispatch::run(
        &state.sessions,
        &session_id.to_string(),
        SessionCommand::Revoke { reason },
        "RevokeSession",
        context,
    )
    .await;
    match outcome {
        Ok(_) | Err(AggregateError::UserError(SessionError::NotFound)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_parse_only_in_their_own_shape() {
        let session = Uuid::now_v7();
        let secret = "a".repeat(64);
        let token = format!("zkr_{session}_{secret}");
        assert_eq!(parse_refresh_token(&token), Some((session, secret.as_str())));
        assert_eq!(parse_refresh_token("zkr_nope_aaaa"), None);
        assert_eq!(parse_refresh_token(&format!("zkr_{session}_short")), None);
        assert_eq!(parse_refresh_token(&format!("xx_{session}_{secret}")), None);
    }
}
