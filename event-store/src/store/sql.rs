//! The statements of the command side's event store: the same `events` and
//! `snapshots` tables, columns and optimistic-concurrency key as
//! postgres-es, but an append is one statement (one round trip, its own
//! transaction) that also writes the snapshot when one is due and returns
//! the commit position; appends to several streams can share one
//! statement (`group_commit`).

use crate::database::ReadPool;
use crate::event_log::{Position, Xid8};
use cqrs_es::AggregateError;
use serde_json::Value;

/// One stored event as the command side reads it.
pub struct Row {
    /// Its place in the stream, from 1.
    pub sequence: i64,
    /// Its type (`MessageSent`, …).
    pub event_type: String,
    /// Its schema version, for upcasting.
    pub event_version: String,
    /// The externally tagged payload (sealed fields still sealed).
    pub payload: Value,
    /// The request's metadata.
    pub metadata: Value,
}

/// Events to append to one stream, column by column.
#[derive(Default, Clone)]
pub struct Batch {
    /// Sequences, consecutive after the stream's last one.
    pub sequences: Vec<i64>,
    /// Event types.
    pub event_types: Vec<String>,
    /// Event versions.
    pub event_versions: Vec<String>,
    /// Payloads, sealed.
    pub payloads: Vec<Value>,
    /// Metadata, one per event.
    pub metadata: Vec<Value>,
}

/// A snapshot written together with the events.
pub struct SnapshotUpdate {
    /// The stream position the state is at.
    pub last_sequence: i64,
    /// How many snapshots the stream has had (kept for the column's meaning).
    pub number: i64,
    /// The aggregate's state.
    pub state: Value,
}

/// The stream's events after `after`, in order.
///
/// Reads go through tokio-postgres (`reads`), not sqlx: sqlx 0.8 pings a
/// pooled connection on every release, a second round trip for each of
/// these short reads (the probe of a command's project or price).
///
/// # Errors
/// The database's error, mapped as [`read_error`] does.
pub async fn events_after<E: std::error::Error>(
    reads: &ReadPool,
    aggregate_type: &str,
    aggregate_id: &str,
    after: i64,
) -> Result<Vec<Row>, AggregateError<E>> {
    let client = read_connection(reads).await?;
    let statement = client
        .prepare_cached(
            "SELECT sequence, event_type, event_version, payload, metadata FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
              ORDER BY sequence",
        )
        .await
        .map_err(read_error)?;
    let rows = client
        .query(&statement, &[&aggregate_type, &aggregate_id, &after])
        .await
        .map_err(read_error)?;
    rows.iter()
        .map(|row| {
            Ok(Row {
                sequence: row.try_get(0)?,
                event_type: row.try_get(1)?,
                event_version: row.try_get(2)?,
                payload: row.try_get(3)?,
                metadata: row.try_get(4)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(read_error)
}

/// The stream's latest snapshot: its sequence and state.
///
/// # Errors
/// The database's error, mapped as [`read_error`] does.
pub async fn latest_snapshot<E: std::error::Error>(
    reads: &ReadPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<(i64, Value)>, AggregateError<E>> {
    let client = read_connection(reads).await?;
    let statement = client
        .prepare_cached(
            "SELECT last_sequence, payload FROM snapshots
              WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .await
        .map_err(read_error)?;
    let row = client
        .query_opt(&statement, &[&aggregate_type, &aggregate_id])
        .await
        .map_err(read_error)?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .transpose()
        .map_err(read_error)
}

/// The framework's error for a failed read: a lost connection or a
/// database shutting down is the database being unavailable.
pub fn read_error<E: std::error::Error>(error: tokio_postgres::Error) -> AggregateError<E> {
    use std::error::Error as _;
    let unavailable = error.is_closed()
        || error.source().is_some_and(|s| s.is::<std::io::Error>())
        || error
            .code()
            .is_some_and(|code| crate::error::unavailable_sqlstate(code.code()));
    if unavailable {
        AggregateError::DatabaseConnectionError(Box::new(error))
    } else {
        AggregateError::UnexpectedError(Box::new(error))
    }
}

/// The framework's error when no connection can be had.
fn pool_error<E: std::error::Error>(error: deadpool_postgres::PoolError) -> AggregateError<E> {
    AggregateError::DatabaseConnectionError(Box::new(error))
}

/// A connection of the store's read pool, the wait for it counted in
/// `command_wait_seconds{queue="store_read_connection"}`.
async fn read_connection<E: std::error::Error>(
    reads: &ReadPool,
) -> Result<deadpool_postgres::Object, AggregateError<E>> {
    let asked = std::time::Instant::now();
    let connection = reads.get().await.map_err(pool_error)?;
    crate::metrics::METRICS
        .command_wait
        .with_label_values(&["store_read_connection"])
        .observe(asked.elapsed().as_secs_f64());
    Ok(connection)
}

/// Appends `batch` to one stream and, when given, stores `snapshot` in the
/// same statement. Returns the position of the last event appended.
///
/// A second writer of the same sequence fails on the primary key: every
/// unique violation is the caller's [`AggregateError::AggregateConflict`]
/// (through [`aggregate_error`]), as in postgres-es. The snapshot only
/// moves forward.
///
/// # Errors
/// A conflict, or the database's error.
pub async fn append_rows<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
    batch: &Batch,
    snapshot: Option<SnapshotUpdate>,
) -> Result<Position, sqlx::Error> {
    let (snapshot_sequence, snapshot_number, snapshot_state) = match snapshot {
        Some(s) => (Some(s.last_sequence), Some(s.number), Some(s.state)),
        None => (None, None, None),
    };
    let (transaction_id, global_position): (String, i64) = sqlx::query_as(
        "WITH appended AS (
             INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata)
             SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
               FROM unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
                    WITH ORDINALITY AS e(sequence, event_type, event_version, payload, metadata, n)
              ORDER BY e.n
             RETURNING transaction_id, global_position
         ), snapshot AS (
             INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot,
                                    payload)
             SELECT $1, $2, $8, $9, $10 WHERE $10::jsonb IS NOT NULL
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
                SET last_sequence = EXCLUDED.last_sequence,
                    current_snapshot = EXCLUDED.current_snapshot,
                    payload = EXCLUDED.payload
              WHERE snapshots.last_sequence < EXCLUDED.last_sequence
         )
         SELECT transaction_id::text, global_position FROM appended
          ORDER BY global_position DESC LIMIT 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(&batch.sequences)
    .bind(&batch.event_types)
    .bind(&batch.event_versions)
    .bind(&batch.payloads)
    .bind(&batch.metadata)
    .bind(snapshot_sequence)
    .bind(snapshot_number)
    .bind(snapshot_state)
    .fetch_one(executor)
    .await?;
    Ok(Position {
        transaction_id: Xid8(transaction_id.parse().unwrap_or(0)),
        global_position,
    })
}

/// Appends to several streams in one statement (one transaction): all of
/// it or, on any error, none of it. Returns each stream's last position.
///
/// # Errors
/// The database's error; a unique violation means some stream's sequence
/// was taken, without saying which.
pub async fn append_streams<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    streams: &[(&str, &str, &Batch)],
) -> Result<Vec<(String, String, Position)>, sqlx::Error> {
    let rows: usize = streams.iter().map(|(_, _, batch)| batch.sequences.len()).sum();
    let mut types = Vec::with_capacity(rows);
    let mut ids = Vec::with_capacity(rows);
    let mut sequences = Vec::with_capacity(rows);
    let mut event_types = Vec::with_capacity(rows);
    let mut event_versions = Vec::with_capacity(rows);
    let mut payloads = Vec::with_capacity(rows);
    let mut metadata = Vec::with_capacity(rows);
    for (aggregate_type, aggregate_id, batch) in streams {
        for n in 0..batch.sequences.len() {
            types.push(*aggregate_type);
            ids.push(*aggregate_id);
            sequences.push(batch.sequences[n]);
            event_types.push(batch.event_types[n].as_str());
            event_versions.push(batch.event_versions[n].as_str());
            payloads.push(&batch.payloads[n]);
            metadata.push(&batch.metadata[n]);
        }
    }
    let last: Vec<(String, String, String, i64)> = sqlx::query_as(
        "WITH appended AS (
             INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata)
             SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version,
                    e.payload, e.metadata
               FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                           $6::jsonb[], $7::jsonb[])
                    WITH ORDINALITY AS e(aggregate_type, aggregate_id, sequence, event_type,
                                         event_version, payload, metadata, n)
              ORDER BY e.n
             RETURNING aggregate_type, aggregate_id, transaction_id, global_position
         )
         SELECT aggregate_type, aggregate_id, transaction_id::text, max(global_position)
           FROM appended GROUP BY aggregate_type, aggregate_id, transaction_id",
    )
    .bind(&types)
    .bind(&ids)
    .bind(&sequences)
    .bind(&event_types)
    .bind(&event_versions)
    .bind(&payloads)
    .bind(&metadata)
    .fetch_all(executor)
    .await?;
    Ok(last
        .into_iter()
        .map(
            |(aggregate_type, aggregate_id, transaction_id, global_position)| {
                (
                    aggregate_type,
                    aggregate_id,
                    Position {
                        transaction_id: Xid8(transaction_id.parse().unwrap_or(0)),
                        global_position,
                    },
                )
            },
        )
        .collect())
}

/// The framework's error for a database failure: a unique violation is a
/// concurrent write, a lost connection is the database being unavailable.
pub fn aggregate_error<E: std::error::Error>(error: sqlx::Error) -> AggregateError<E> {
    match error {
        sqlx::Error::Database(ref db) if db.code().as_deref() == Some("23505") => {
            AggregateError::AggregateConflict
        }
        sqlx::Error::Database(ref db)
            if db
                .code()
                .as_deref()
                .is_some_and(crate::error::unavailable_sqlstate) =>
        {
            AggregateError::DatabaseConnectionError(Box::new(error))
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            AggregateError::DatabaseConnectionError(Box::new(error))
        }
        other => AggregateError::UnexpectedError(Box::new(other)),
    }
}
