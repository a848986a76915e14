//! File locks as the agents' streams recorded them: the fencing floor of a
//! file, and which of some agents locked it first.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::error::StoreError;

/// The highest fencing token ever recorded for `file_path` in `project`
/// (0 when none was).
///
/// # Errors
/// When the query fails.
pub async fn fencing_floor(
    client: &impl GenericClient,
    project: Uuid,
    file_path: &str,
) -> Result<i64, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT max((payload -> 'FileLockAcquired' ->> 'fencing_token')::bigint) FROM events
              WHERE event_type = 'FileLockAcquired'
                AND payload -> 'FileLockAcquired' ->> 'project_id' = $1
                AND payload -> 'FileLockAcquired' ->> 'file_path' = $2",
        )
        .await?;
    let floor: Option<i64> = client
        .query_one(&statement, &[&project.to_string(), &file_path])
        .await?
        .try_get(0)?;
    Ok(floor.unwrap_or(0))
}

/// Which of `agents` first acquired a lock on `file_path` in `project`.
///
/// # Errors
/// When the query fails.
pub async fn first_holder(
    client: &impl GenericClient,
    project: Uuid,
    file_path: &str,
    agents: &[Uuid],
) -> Result<Option<Uuid>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT aggregate_id::uuid FROM events
              WHERE event_type = 'FileLockAcquired'
                AND payload -> 'FileLockAcquired' ->> 'project_id' = $1
                AND payload -> 'FileLockAcquired' ->> 'file_path' = $2
                AND aggregate_id = ANY($3)
              ORDER BY global_position LIMIT 1",
        )
        .await?;
    let agents: Vec<String> = agents.iter().map(Uuid::to_string).collect();
    Ok(
        match client
            .query_opt(&statement, &[&project.to_string(), &file_path, &agents])
            .await?
        {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        },
    )
}
