//! Whole streams of aggregates that hold no personal data, read as their
//! domain events: a conflict's report, an operator's skips, prices.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use deadpool_postgres::GenericClient;
use zekka_domain::pricing::{ModelPrice, PricingEvent};

use super::decode;
use crate::error::StoreError;

/// One event of a stream, with its stream and time.
#[derive(Debug, Clone)]
pub struct StreamEvent<E> {
    /// The stream's id.
    pub aggregate_id: String,
    /// The event.
    pub event: E,
    /// When it was committed.
    pub recorded_at: DateTime<Utc>,
}

/// Every event of `A`'s stream `aggregate_id`, in order.
///
/// # Errors
/// When the query fails or an event does not read (or holds personal data).
pub async fn events_of<A: Aggregate>(
    client: &impl tokio_postgres::GenericClient,
    aggregate_id: &str,
) -> Result<Vec<A::Event>, StoreError> {
    let rows = client
        .query(
            "SELECT event_type, event_version, payload FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
            &[&A::TYPE, &aggregate_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let event_type: String = row.try_get(0)?;
            decode(
                A::TYPE,
                &event_type,
                &row.try_get::<_, String>(1)?,
                row.try_get(2)?,
            )
        })
        .collect()
}

/// Every event of every stream of `A`, by stream, in order.
///
/// # Errors
/// When the query fails or an event does not read (or holds personal data).
pub async fn every_stream_of<A: Aggregate>(
    client: &impl GenericClient,
) -> Result<Vec<StreamEvent<A::Event>>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT aggregate_id, event_type, event_version, payload, recorded_at FROM events
              WHERE aggregate_type = $1 ORDER BY aggregate_id, sequence",
        )
        .await?;
    let rows = client.query(&statement, &[&A::TYPE]).await?;
    rows.iter()
        .map(|row| {
            let event_type: String = row.try_get(1)?;
            Ok(StreamEvent {
                aggregate_id: row.try_get(0)?,
                event: decode(
                    A::TYPE,
                    &event_type,
                    &row.try_get::<_, String>(2)?,
                    row.try_get(3)?,
                )?,
                recorded_at: row.try_get(4)?,
            })
        })
        .collect()
}

/// The first `event_type` event of `A`'s stream `aggregate_id`, if any.
///
/// # Errors
/// When the query fails or the event does not read (or holds personal data).
pub async fn first_of_type<A: Aggregate>(
    client: &impl GenericClient,
    aggregate_id: &str,
    event_type: &str,
) -> Result<Option<A::Event>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT event_version, payload FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = $3
              ORDER BY sequence LIMIT 1",
        )
        .await?;
    match client
        .query_opt(&statement, &[&A::TYPE, &aggregate_id, &event_type])
        .await?
    {
        Some(row) => Ok(Some(decode(
            A::TYPE,
            event_type,
            &row.try_get::<_, String>(0)?,
            row.try_get(1)?,
        )?)),
        None => Ok(None),
    }
}

/// The price of every model in force now: each model's last price set
/// that is already effective.
///
/// # Errors
/// When the query fails or a price does not read.
pub async fn prices_in_force(client: &impl GenericClient) -> Result<Vec<PricingEvent>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT DISTINCT ON (aggregate_id) event_type, event_version, payload
               FROM events
              WHERE aggregate_type = $1
                AND (payload -> 'ModelPriceSet' ->> 'effective_from')::timestamptz <= now()
              ORDER BY aggregate_id, sequence DESC",
        )
        .await?;
    let rows = client
        .query(&statement, &[&<ModelPrice as Aggregate>::TYPE])
        .await?;
    rows.iter()
        .map(|row| {
            let event_type: String = row.try_get(0)?;
            decode(
                <ModelPrice as Aggregate>::TYPE,
                &event_type,
                &row.try_get::<_, String>(1)?,
                row.try_get(2)?,
            )
        })
        .collect()
}
