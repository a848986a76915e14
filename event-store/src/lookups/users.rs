//! Users by email, through the blind index their registration stores.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::error::StoreError;

/// The user who registered with the email whose blind index is
/// `email_index` (or, for registrations from before sealing, with `email`
/// itself).
///
/// # Errors
/// When the query fails.
pub async fn by_email(
    client: &impl GenericClient,
    email_index: &str,
    email: &str,
) -> Result<Option<Uuid>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT aggregate_id::uuid FROM events
              WHERE aggregate_type = 'User' AND event_type = 'UserRegistered'
                AND (payload -> 'UserRegistered' ->> 'email_index' = $1
                     OR payload -> 'UserRegistered' ->> 'email' = $2)
              LIMIT 1",
        )
        .await?;
    Ok(
        match client.query_opt(&statement, &[&email_index, &email]).await? {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        },
    )
}
