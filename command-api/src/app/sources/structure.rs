//! A project's folder tree as the `sources` read model holds it, read with
//! the project's structure held still (see [`super::held_still`]).

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::app::error::AppError;

/// Whether `folder` is a live folder of `project`.
///
/// # Errors
/// When the database fails.
pub async fn is_live_folder(
    client: &impl GenericClient,
    project: Uuid,
    folder: Uuid,
) -> Result<bool, AppError> {
    let statement = client
        .prepare_cached("SELECT 1 FROM rm_source_folders WHERE folder_id = $1 AND project_id = $2")
        .await?;
    Ok(client
        .query_opt(&statement, &[&folder, &project])
        .await?
        .is_some())
}

/// The folders above `folder`, nearest first (bounded: a tree deeper than
/// 1,000 levels is cut there).
///
/// # Errors
/// When the database fails.
pub async fn ancestors(client: &impl GenericClient, folder: Uuid) -> Result<Vec<Uuid>, AppError> {
    let statement = client
        .prepare_cached(
            "WITH RECURSIVE up(folder_id, depth) AS (
                 SELECT parent_id, 1 FROM rm_source_folders WHERE folder_id = $1 AND parent_id IS NOT NULL
                 UNION ALL
                 SELECT f.parent_id, up.depth + 1 FROM rm_source_folders f JOIN up ON f.folder_id = up.folder_id
                  WHERE f.parent_id IS NOT NULL AND up.depth < 1000
             )
             SELECT folder_id FROM up ORDER BY depth",
        )
        .await?;
    let rows = client.query(&statement, &[&folder]).await?;
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

/// How many sources and folders are directly in `folder`.
///
/// # Errors
/// When the database fails.
pub async fn holds(client: &impl GenericClient, folder: Uuid) -> Result<u64, AppError> {
    let statement = client
        .prepare_cached(
            "SELECT (SELECT count(*) FROM rm_sources WHERE folder_id = $1)
                  + (SELECT count(*) FROM rm_source_folders WHERE parent_id = $1)",
        )
        .await?;
    let count: i64 = client.query_one(&statement, &[&folder]).await?.try_get(0)?;
    Ok(u64::try_from(count).unwrap_or(0))
}
