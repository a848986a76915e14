//! Users by email, through the blind index their registration stores.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::error::StoreError;

/// An account found by its email's blind index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The user.
    pub user_id: Uuid,
    /// Whether they were erased since.
    pub erased: bool,
}

/// The user who registered with the email whose blind index is
/// `email_index` (or, for registrations from before sealing, with `email`
/// itself, when given), and whether they were erased since.
///
/// # Errors
/// When the query fails.
pub async fn by_email(
    client: &impl GenericClient,
    email_index: &str,
    email: Option<&str>,
) -> Result<Option<Registered>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT r.aggregate_id::uuid,
                    EXISTS (SELECT 1 FROM events x
                             WHERE x.aggregate_type = 'User' AND x.aggregate_id = r.aggregate_id
                               AND x.event_type = 'UserErased')
               FROM events r
              WHERE r.aggregate_type = 'User' AND r.event_type = 'UserRegistered'
                AND (r.payload -> 'UserRegistered' ->> 'email_index' = $1
                     OR ($2::text IS NOT NULL AND r.payload -> 'UserRegistered' ->> 'email' = $2))
              LIMIT 1",
        )
        .await?;
    Ok(
        match client.query_opt(&statement, &[&email_index, &email]).await? {
            Some(row) => Some(Registered {
                user_id: row.try_get(0)?,
                erased: row.try_get(1)?,
            }),
            None => None,
        },
    )
}
