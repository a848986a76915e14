//! One stream's events, newest first, as an activity feed shows them.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use zekka_domain::upcasting;

use crate::error::StoreError;
use crate::personal_data;

/// One event of a feed.
#[derive(Debug, Clone)]
pub struct Activity {
    /// Its place in the stream.
    pub sequence: i64,
    /// The event's name.
    pub event_type: String,
    /// The event's body in the current schema (upcast).
    pub data: Value,
    /// Who caused it, when a person did.
    pub actor: Option<String>,
    /// When it was committed.
    pub recorded_at: DateTime<Utc>,
}

/// Up to `limit` events of the stream before sequence `before` (all when
/// `None`), newest first. Only for streams without personal data.
///
/// # Errors
/// When the query fails, or the stream's events hold personal data.
pub async fn newest_first(
    client: &impl GenericClient,
    aggregate_type: &str,
    aggregate_id: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Activity>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT sequence, event_type, event_version, payload, metadata ->> 'actor', recorded_at
               FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2
                AND ($3::bigint IS NULL OR sequence < $3)
              ORDER BY sequence DESC LIMIT $4",
        )
        .await?;
    let rows = client
        .query(&statement, &[&aggregate_type, &aggregate_id, &before, &limit])
        .await?;
    rows.iter()
        .map(|row| {
            let event_type: String = row.try_get(1)?;
            if personal_data::has_sealed_fields(aggregate_type, &event_type) {
                return Err(StoreError::Corrupt(format!(
                    "{aggregate_type}/{event_type} holds personal data: read it through the store"
                )));
            }
            let (_, mut payload) =
                upcasting::upcast(&event_type, &row.try_get::<_, String>(2)?, row.try_get(3)?);
            let data = payload
                .as_object_mut()
                .and_then(|tagged| tagged.remove(&event_type))
                .unwrap_or(Value::Null);
            Ok(Activity {
                sequence: row.try_get(0)?,
                event_type,
                data,
                actor: row.try_get(4)?,
                recorded_at: row.try_get(5)?,
            })
        })
        .collect()
}
