//! A signed-in person looking after their own account: their name, their
//! password, and the sessions they have open.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;
use zekka_domain::session::RevocationReason;
use zekka_domain::user::{DisplayName, Password, User, UserCommand};
use zekka_event_store::consistency::{self, ConsistencyToken};
use zekka_event_store::database::CachedQueries;
use zekka_platform::password;

use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::lockout;
use crate::app::sessions;
use crate::app::state::CommandState;

/// How long a password change waits for the session list to include every
/// session started before it, before it ends all of the person's access
/// tokens instead (the current session then refreshes its own).
const SESSION_LIST_WAIT: Duration = Duration::from_secs(5);

/// The account of `user_id`, which must exist.
async fn account(state: &CommandState, user_id: Uuid) -> Result<User, AppError> {
    sessions::load_user(state, &user_id.to_string())
        .await?
        .ok_or_else(|| AppError::not_found("no such account"))
}

/// Gives `user_id` the name `display_name` others see.
///
/// # Errors
/// 404 for an account that no longer exists; 503/500 when the store fails.
pub async fn rename(
    state: &CommandState,
    user_id: Uuid,
    display_name: DisplayName,
    context: &CommandContext,
) -> Result<ConsistencyToken, AppError> {
    dispatch::execute(
        &state.users,
        &user_id.to_string(),
        UserCommand::ChangeDisplayName { display_name },
        "ChangeDisplayName",
        context,
    )
    .await
}

/// Sets a new password for `user_id` once `current` is proved right, and
/// ends every session of theirs but `session`: refresh tokens through the
/// account's cutoff, access tokens through the deny-list. A wrong current
/// password counts as a failed sign-in (the lockout applies: someone holding
/// a stolen access token cannot guess the password at leisure).
///
/// # Errors
/// 403 for a wrong current password; 429 while the account is locked;
/// 503/500 when the store fails.
pub async fn change_password(
    state: &CommandState,
    user_id: Uuid,
    session: Option<Uuid>,
    current: &str,
    new: Password,
    context: &CommandContext,
) -> Result<ConsistencyToken, AppError> {
    let user = account(state, user_id).await?;
    let now = Utc::now();
    if let Some(remaining) = lockout::lock_remaining(state, Some(&user), &user.email, now).await? {
        return Err(lockout::locked(remaining));
    }
    if !password::verify(current.to_owned(), Some(user.password_hash.clone())).await {
        lockout::record_login_failure(state, Some(&user), &user.email, now, context).await?;
        return Err(AppError::forbidden("the current password is wrong"));
    }
    let password_hash = password::hash(new).await.map_err(|e| AppError::internal(&e))?;
    let token = dispatch::execute(
        &state.users,
        &user_id.to_string(),
        UserCommand::ChangePassword {
            password_hash,
            keep_session: session,
            now,
        },
        "ChangePassword",
        context,
    )
    .await?;
    end_other_sessions(state, user_id, session, token, context).await?;
    tracing::info!(%user_id, "password changed; every other session ended");
    Ok(token)
}

/// Ends every session of `user_id` but `keep`, once the session list holds
/// every session started before `token`. Should the list not catch up in
/// time, every access token of theirs is revoked instead.
async fn end_other_sessions(
    state: &CommandState,
    user_id: Uuid,
    keep: Option<Uuid>,
    token: ConsistencyToken,
    context: &CommandContext,
) -> Result<(), AppError> {
    if consistency::poll_until_applied(&state.reads, &["users"], token, SESSION_LIST_WAIT)
        .await
        .is_err()
    {
        tracing::warn!(%user_id, "the session list is behind: every access token of the person is revoked");
        return sessions::revoke_every_token(state, user_id, Utc::now()).await;
    }
    let client = state.lookup_connection().await?;
    let others: Vec<Uuid> = client
        .query_cached(
            "SELECT session_id FROM rm_sessions WHERE user_id = $1 AND session_id IS DISTINCT FROM $2",
            &[&user_id, &keep],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    drop(client);
    for session_id in others {
        sessions::revoke_session(state, session_id, RevocationReason::PasswordChanged, context).await?;
    }
    Ok(())
}

/// Ends the session `session_id` of `user_id` (from their session list).
/// Another person's session, or none, is a 404; an ended one is ended.
///
/// # Errors
/// 404 as above; 503/500 when the store fails.
pub async fn end_session(
    state: &CommandState,
    user_id: Uuid,
    session_id: Uuid,
    context: &CommandContext,
) -> Result<ConsistencyToken, AppError> {
    let session = sessions::load_session(state, session_id).await?;
    if session.and_then(|s| s.user_id) != Some(user_id) {
        return Err(AppError::not_found("session not found"));
    }
    sessions::revoke_session(state, session_id, RevocationReason::EndedElsewhere, context).await?;
    dispatch::head_position(&state.reads).await
}
