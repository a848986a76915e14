//! The account lockout: too many failed sign-ins in a row lock an account.
//!
//! For real accounts the failures and the lock are events on the User
//! aggregate. An email with no account gets exactly the same treatment from
//! short-lived counters, so the answers never tell whether an account exists.
//!
//! Both are decided after a password was checked, so on their own they let
//! a burst of concurrent guesses through (security review F3). In front of
//! them stands the guess gate ([`CommandState::admit_guess`]): every
//! sign-in of an email takes a numbered place in a shared counter before
//! its password is checked, atomically, and only the first
//! `LOGIN_LOCKOUT_THRESHOLD` places of a lock period are checked at all.

use std::time::Duration;

use crate::app::error::AppError;
use chrono::{DateTime, Utc};
use zekka_domain::user::{User, UserCommand};
use zekka_platform::secret_token;

use crate::app::dispatch::{self, CommandContext};
use crate::app::state::CommandState;

/// How long failures of an email with no account are remembered.
const UNKNOWN_FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// The answer to a sign-in on a locked account (or a locked unknown email).
pub fn locked(remaining: Duration) -> AppError {
    AppError::too_many_requests(
        "too many failed sign-ins for this account; try again later",
        remaining.as_secs().max(1),
    )
}

/// The Redis key of `kind` (`failures`, `locked`, `guesses`) for `email`:
/// its digest, never the address.
fn key(kind: &str, email: &str) -> String {
    format!(
        "lockout:{kind}:{}",
        secret_token::digest(&email.trim().to_lowercase())
    )
}

/// Gives a sign-in of `email` its place among the guesses of this lock
/// period, before its password is checked: refused (429, as a lock)
/// past the threshold. A sign-in that succeeds clears the count
/// ([`CommandState::clear_guesses`]).
///
/// When Redis is unreachable the gate stands open (logged), as the rate
/// limits do: the lockout decided on the account still holds.
///
/// # Errors
/// 429 when the period's guesses are used up.
pub async fn admit_guess(state: &CommandState, email: &str) -> Result<(), AppError> {
    let limits = state.config.limits;
    match state
        .ephemeral
        .hit(&key("guesses", email), limits.lockout_duration)
        .await
    {
        Ok(window) if window.count > i64::from(limits.lockout_threshold) => Err(locked(window.remaining)),
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "sign-in guess gate not enforced");
            Ok(())
        }
    }
}

/// Forgets the guesses counted for `email` (its owner signed in).
pub async fn clear_guesses(state: &CommandState, email: &str) {
    if let Err(error) = state.ephemeral.delete(&key("guesses", email)).await {
        tracing::warn!(%error, "sign-in guesses not cleared");
    }
}

/// How long `account` (or, with none, `email`) stays locked, if it is.
///
/// # Errors
/// 503 when the shared state store is down.
pub async fn lock_remaining(
    state: &CommandState,
    account: Option<&User>,
    email: &str,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, AppError> {
    if let Some(user) = account {
        return Ok(user.locked_at(now).and_then(|until| (until - now).to_std().ok()));
    }
    let locked_key = key("locked", email);
    let window = state
        .ephemeral
        .peek(&locked_key)
        .await
        .map_err(|e| AppError::unavailable(e.to_string(), 2))?;
    Ok((window.count > 0).then_some(window.remaining))
}

/// Records a failed sign-in of `account` (or, with none, `email`).
///
/// # Errors
/// 503 or 500 when the store fails.
pub async fn record_login_failure(
    state: &CommandState,
    account: Option<&User>,
    email: &str,
    now: DateTime<Utc>,
    context: &CommandContext,
) -> Result<(), AppError> {
    let limits = state.config.limits;
    if let Some(user_id) = account.and_then(|user| user.id) {
        let command = UserCommand::RecordLoginFailure {
            now,
            threshold: limits.lockout_threshold,
            lock_for: chrono::Duration::from_std(limits.lockout_duration)
                .map_err(|e| AppError::internal(&e))?,
        };
        // A concurrent failure may win the append; the next one counts.
        return match dispatch::run(
            &state.users,
            &user_id.to_string(),
            command,
            "RecordLoginFailure",
            context,
        )
        .await
        {
            Ok(_) | Err(cqrs_es::AggregateError::AggregateConflict) => Ok(()),
            Err(error) => Err(error.into()),
        };
    }
    let (failures_key, locked_key) = (key("failures", email), key("locked", email));
    let unavailable = |e: zekka_platform::ephemeral::Unavailable| AppError::unavailable(e.to_string(), 2);
    let failures = state
        .ephemeral
        .hit(&failures_key, UNKNOWN_FAILURE_MEMORY)
        .await
        .map_err(unavailable)?;
    if failures.count >= i64::from(limits.lockout_threshold) {
        state
            .ephemeral
            .set(&locked_key, 1, limits.lockout_duration)
            .await
            .map_err(unavailable)?;
        state.ephemeral.delete(&failures_key).await.map_err(unavailable)?;
    }
    Ok(())
}
