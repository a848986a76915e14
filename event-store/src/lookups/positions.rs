//! Positions in the commit order: the store's head, a stream's last event,
//! the event at a global position.

use deadpool_postgres::GenericClient;

use crate::error::StoreError;
use crate::event_log::Position;

/// The position of the last event written (the store's head): the
/// consistency token of an answer that wrote nothing of its own. `START`
/// when the store is empty.
///
/// # Errors
/// When the query fails.
pub async fn head(client: &impl GenericClient) -> Result<Position, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT transaction_id, global_position FROM events ORDER BY global_position DESC LIMIT 1",
        )
        .await?;
    Ok(match client.query_opt(&statement, &[]).await? {
        Some(row) => Position::from_row(&row, 0)?,
        None => Position::START,
    })
}

/// The position of the last event of one stream (`START` when it has none).
///
/// # Errors
/// When the query fails.
pub async fn stream_head(
    client: &impl GenericClient,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Position, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT transaction_id, global_position FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2
              ORDER BY sequence DESC LIMIT 1",
        )
        .await?;
    Ok(
        match client
            .query_opt(&statement, &[&aggregate_type, &aggregate_id])
            .await?
        {
            Some(row) => Position::from_row(&row, 0)?,
            None => Position::START,
        },
    )
}

/// The full position of the event at `global_position`, if there is one.
///
/// # Errors
/// When the query fails.
pub async fn position_at(
    client: &impl GenericClient,
    global_position: i64,
) -> Result<Option<Position>, StoreError> {
    let statement = client
        .prepare_cached("SELECT transaction_id, global_position FROM events WHERE global_position = $1")
        .await?;
    Ok(match client.query_opt(&statement, &[&global_position]).await? {
        Some(row) => Some(Position::from_row(&row, 0)?),
        None => None,
    })
}

/// The full position of the last event at or before `global_position` (a
/// number may name no event: its transaction rolled back), if there is one:
/// where a listing "after global position N" resumes.
///
/// # Errors
/// When the query fails.
pub async fn position_at_or_before(
    client: &impl GenericClient,
    global_position: i64,
) -> Result<Option<Position>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT transaction_id, global_position FROM events WHERE global_position <= $1
              ORDER BY global_position DESC LIMIT 1",
        )
        .await?;
    Ok(match client.query_opt(&statement, &[&global_position]).await? {
        Some(row) => Some(Position::from_row(&row, 0)?),
        None => None,
    })
}

/// The name of the event at `global_position`, if there is one.
///
/// # Errors
/// When the query fails.
pub async fn event_type_at(
    client: &impl GenericClient,
    global_position: i64,
) -> Result<Option<String>, StoreError> {
    let statement = client
        .prepare_cached("SELECT event_type FROM events WHERE global_position = $1")
        .await?;
    Ok(match client.query_opt(&statement, &[&global_position]).await? {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

/// Whether any event of the stream exists.
///
/// # Errors
/// When the query fails.
pub async fn stream_exists(
    client: &impl GenericClient,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = $1 AND aggregate_id = $2)",
        )
        .await?;
    Ok(client
        .query_one(&statement, &[&aggregate_type, &aggregate_id])
        .await?
        .try_get(0)?)
}
