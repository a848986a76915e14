//! Who a stream belongs to: the project named by its first event, the agent
//! a task was assigned to. Both never change once written.

use deadpool_postgres::GenericClient;
use serde::Deserialize;
use uuid::Uuid;

use super::fields_of;
use crate::error::StoreError;

/// The field every project-owned stream's first event carries.
#[derive(Deserialize)]
struct Owned {
    project_id: Uuid,
}

/// The project a stream of `aggregate_type` (a conversation, agent or
/// conflict) belongs to, from the `project_id` of its first event; `None`
/// when the stream does not exist.
///
/// # Errors
/// When the query fails, or the first event names no project.
pub async fn owning_project(
    client: &impl GenericClient,
    aggregate_type: &str,
    id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT event_type, event_version, payload FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
        )
        .await?;
    let Some(row) = client
        .query_opt(&statement, &[&aggregate_type, &id.to_string()])
        .await?
    else {
        return Ok(None);
    };
    let event_type: String = row.try_get(0)?;
    let owned: Owned = fields_of(&event_type, &row.try_get::<_, String>(1)?, row.try_get(2)?)?;
    Ok(Some(owned.project_id))
}

/// The agent `task_id` was assigned to, if it was (through the
/// `events_task_assigned` index).
///
/// # Errors
/// When the query fails.
pub async fn task_agent(client: &impl GenericClient, task_id: Uuid) -> Result<Option<Uuid>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT aggregate_id FROM events
              WHERE aggregate_type = 'Agent' AND event_type = 'TaskAssigned'
                AND (payload -> 'TaskAssigned' ->> 'task_id')::uuid = $1
              LIMIT 1",
        )
        .await?;
    match client.query_opt(&statement, &[&task_id]).await? {
        Some(row) => {
            let agent: String = row.try_get(0)?;
            Uuid::parse_str(&agent)
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("agent stream id {agent} is not a UUID")))
        }
        None => Ok(None),
    }
}
