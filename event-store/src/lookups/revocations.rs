//! The revocations of the last hours, from the streams: what the token
//! deny-lists are rebuilt from when the shared store lost them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;
use zekka_domain::session::SessionEvent;
use zekka_domain::user::UserEvent;

use super::decode;
use crate::error::StoreError;

/// One revocation, as the deny-lists keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every token of a session.
    Session(Uuid),
    /// Every token of a user issued up to a time (a password reset, an erasure).
    UserTokens {
        /// The user.
        user: Uuid,
        /// Tokens issued up to here are revoked.
        issued_until: DateTime<Utc>,
    },
}

/// Every revocation recorded in the last `cover`, in commit order.
///
/// # Errors
/// When the query fails or an event does not read.
pub async fn recorded_within(
    client: &impl GenericClient,
    cover: Duration,
) -> Result<Vec<Revocation>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT aggregate_type, aggregate_id::uuid, event_type, event_version, payload FROM events
              WHERE event_type IN ('SessionRevoked', 'PasswordReset', 'UserErased')
                AND aggregate_type IN ('Session', 'User')
                AND recorded_at > now() - make_interval(secs => $1)
              ORDER BY global_position",
        )
        .await?;
    let rows = client.query(&statement, &[&cover.as_secs_f64()]).await?;
    let mut revocations = Vec::with_capacity(rows.len());
    for row in rows {
        let aggregate_type: String = row.try_get(0)?;
        let id: Uuid = row.try_get(1)?;
        let event_type: String = row.try_get(2)?;
        let version: String = row.try_get(3)?;
        let revocation = if aggregate_type == "Session" {
            match decode::<SessionEvent>(&aggregate_type, &event_type, &version, row.try_get(4)?)? {
                SessionEvent::SessionRevoked { .. } => Some(Revocation::Session(id)),
                _ => None,
            }
        } else {
            match decode::<UserEvent>(&aggregate_type, &event_type, &version, row.try_get(4)?)? {
                UserEvent::PasswordReset {
                    sessions_revoked_at, ..
                } => Some(Revocation::UserTokens {
                    user: id,
                    issued_until: sessions_revoked_at,
                }),
                UserEvent::UserErased { erased_at } => Some(Revocation::UserTokens {
                    user: id,
                    issued_until: erased_at,
                }),
                _ => None,
            }
        };
        revocations.extend(revocation);
    }
    Ok(revocations)
}
