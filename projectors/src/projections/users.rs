//! `users`: who each user is (`rm_users`), for `GET /users/me` and for
//! showing names beside ids.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::user::UserEvent;
use zekka_event_store::event_log::StoredEvent;

use crate::projection::{Projection, ProjectionError};

/// The `users` read model.
pub struct UsersProjection;

#[async_trait]
impl Projection for UsersProjection {
    fn name(&self) -> &'static str {
        "users"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_users"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["User"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
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
            UserEvent::UserErased { .. } => {
                let delete = tx
                    .prepare_cached("DELETE FROM rm_users WHERE user_id = $1")
                    .await?;
                tx.execute(&delete, &[&super::uuid_of(&event.aggregate_id)?])
                    .await?;
            }
            UserEvent::LoginFailed { .. }
            | UserEvent::LoginFailuresCleared {}
            | UserEvent::PasswordResetRequested { .. }
            | UserEvent::PasswordReset { .. }
            | UserEvent::EmailVerificationRequested { .. }
            | UserEvent::SystemRoleGranted { .. }
            | UserEvent::SystemRoleRevoked { .. } => {}
        }
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_users").await?;
        Ok(())
    }
}
