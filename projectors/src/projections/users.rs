//! `users`: who each user is (`rm_users`), for `GET /users/me` and for
//! showing names beside ids, and the sessions each has open
//! (`rm_sessions`), for their session list.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::session::SessionEvent;
use zekka_domain::user::UserEvent;
use zekka_event_store::event_log::StoredEvent;

use crate::projection::{Projection, ProjectionError};

/// The `users` read model.
pub struct UsersProjection;

/// Records that sessions started up to `cutoff` have ended, but `kept`.
async fn set_cutoff(
    tx: &Transaction<'_>,
    event: &StoredEvent,
    cutoff: chrono::DateTime<chrono::Utc>,
    kept: Option<uuid::Uuid>,
) -> Result<(), ProjectionError> {
    let update = tx
        .prepare_cached("UPDATE rm_users SET sessions_revoked_at = $2, kept_session = $3 WHERE user_id = $1")
        .await?;
    tx.execute(&update, &[&super::uuid_of(&event.aggregate_id)?, &cutoff, &kept])
        .await?;
    Ok(())
}

/// A session started, was refreshed (used) or ended.
async fn apply_session(tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
    let session_id = super::uuid_of(&event.aggregate_id)?;
    match super::decode::<SessionEvent>(event)? {
        SessionEvent::SessionStarted {
            user_id,
            expires_at,
            started_at,
            client_ip,
            user_agent,
            ..
        } => {
            // An erased person's sessions are not listed again on a rebuild
            // (their address reads as erased, and nobody can list them).
            let insert = tx
                .prepare_cached(
                    "INSERT INTO rm_sessions
                         (session_id, user_id, started_at, last_used_at, expires_at, client_ip, user_agent)
                     SELECT $1, $2, $3, $3, $4, $5, $6
                      WHERE EXISTS (SELECT 1 FROM rm_users WHERE user_id = $2)
                     ON CONFLICT (session_id) DO NOTHING",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &session_id,
                    &user_id,
                    &started_at,
                    &expires_at,
                    &client_ip,
                    &user_agent,
                ],
            )
            .await?;
        }
        SessionEvent::SessionRefreshed { expires_at, .. } => {
            let update = tx
                .prepare_cached(
                    "UPDATE rm_sessions SET last_used_at = $2, expires_at = $3 WHERE session_id = $1",
                )
                .await?;
            tx.execute(&update, &[&session_id, &event.recorded_at, &expires_at])
                .await?;
        }
        SessionEvent::SessionRevoked { .. } => {
            let delete = tx
                .prepare_cached("DELETE FROM rm_sessions WHERE session_id = $1")
                .await?;
            tx.execute(&delete, &[&session_id]).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl Projection for UsersProjection {
    fn name(&self) -> &'static str {
        "users"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_users", "rm_sessions"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["User", "Session"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type == "Session" {
            return apply_session(tx, event).await;
        }
        match super::decode::<UserEvent>(event)? {
            UserEvent::UserRegistered {
                user_id,
                email,
                display_name,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_users (user_id, email, display_name, created_at)
                         VALUES ($1, $2, $3, $4)",
                    )
                    .await?;
                tx.execute(&insert, &[&user_id, &email, &display_name, &event.recorded_at])
                    .await?;
            }
            UserEvent::EmailVerified { .. } => {
                let update = tx
                    .prepare_cached("UPDATE rm_users SET email_verified = true WHERE user_id = $1")
                    .await?;
                tx.execute(&update, &[&super::uuid_of(&event.aggregate_id)?])
                    .await?;
            }
            UserEvent::DisplayNameChanged { display_name } => {
                let update = tx
                    .prepare_cached("UPDATE rm_users SET display_name = $2 WHERE user_id = $1")
                    .await?;
                tx.execute(&update, &[&super::uuid_of(&event.aggregate_id)?, &display_name])
                    .await?;
            }
            UserEvent::PasswordReset {
                sessions_revoked_at, ..
            } => set_cutoff(tx, event, sessions_revoked_at, None).await?,
            UserEvent::PasswordChanged {
                sessions_revoked_at,
                kept_session,
                ..
            } => set_cutoff(tx, event, sessions_revoked_at, kept_session).await?,
            UserEvent::UserErased { .. } => {
                let delete = tx
                    .prepare_cached(
                        "WITH sessions AS (DELETE FROM rm_sessions WHERE user_id = $1)
                         DELETE FROM rm_users WHERE user_id = $1",
                    )
                    .await?;
                tx.execute(&delete, &[&super::uuid_of(&event.aggregate_id)?])
                    .await?;
            }
            UserEvent::LoginFailed { .. }
            | UserEvent::LoginFailuresCleared {}
            | UserEvent::PasswordResetRequested { .. }
            | UserEvent::EmailVerificationRequested { .. }
            | UserEvent::SystemRoleGranted { .. }
            | UserEvent::SystemRoleRevoked { .. } => {}
        }
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_users, rm_sessions").await?;
        Ok(())
    }
}
