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
    /// Its hash in the stream's chain (the next event's predecessor).
    pub hash: Vec<u8>,
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
    /// Each event's hash in its stream's chain, computed by the writer.
    pub hashes: Vec<Vec<u8>>,
    /// The hash the first event chains from: the stream's last event's, as
    /// the writer read it (`None` for a stream's first event). The append
    /// fails as a conflict when the stored one differs.
    pub previous: Option<Vec<u8>>,
    /// When the events were recorded (the hashes cover it), to the
    /// microsecond.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// Facts from another stream the events were decided on: the append
    /// fails (as [`super::guard::FactsMoved`]) when that stream moved.
    pub guard: Option<super::guard::Guard>,
}

impl Batch {
    /// An empty batch whose first event chains from `previous` (the
    /// stream's last hash, `None` for a new stream), recorded now.
    pub fn chained_from(previous: Option<Vec<u8>>) -> Self {
        let now = chrono::Utc::now();
        Self {
            previous,
            // To the microsecond, what `timestamptz` keeps: the time hashed
            // is the time stored.
            recorded_at: chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
            ..Self::default()
        }
    }

    /// Adds the next event of stream `aggregate_type`/`aggregate_id` with its
    /// link in the chain: the hash `zekka audit verify` recomputes from the
    /// stored row (the jsonb texts, `recorded_at` to the microsecond).
    pub fn push(&mut self, aggregate_type: &str, aggregate_id: &str, event: NewEvent) {
        let hash = crate::integrity::hash_of(
            self.last_hash(),
            &crate::integrity::HashInput {
                aggregate_type,
                aggregate_id,
                sequence: event.sequence,
                event_type: &event.event_type,
                event_version: &event.event_version,
                payload: &crate::integrity::jsonb_text(&event.payload),
                metadata: &crate::integrity::jsonb_text(&event.metadata),
                recorded_at_micros: self.recorded_at.timestamp_micros(),
            },
        );
        self.sequences.push(event.sequence);
        self.event_types.push(event.event_type);
        self.event_versions.push(event.event_version);
        self.payloads.push(event.payload);
        self.metadata.push(event.metadata);
        self.hashes.push(hash.to_vec());
    }

    /// The hash of the last event added (or the one the batch chains from).
    pub fn last_hash(&self) -> Option<&[u8]> {
        self.hashes.last().map(Vec::as_slice).or(self.previous.as_deref())
    }
}

/// One event to add to a [`Batch`], as stored (payload sealed).
pub struct NewEvent {
    /// Its place in the stream, after the stream's last one.
    pub sequence: i64,
    /// Its type.
    pub event_type: String,
    /// Its schema version.
    pub event_version: String,
    /// The externally tagged payload.
    pub payload: Value,
    /// The request's metadata.
    pub metadata: Value,
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
            "SELECT sequence, event_type, event_version, payload, metadata, hash FROM events
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
                hash: row.try_get(5)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(read_error)
}

/// The stream's latest snapshot: its sequence, state, and the hash of the
/// event it stands at (the chain's link for the next append).
///
/// # Errors
/// The database's error, mapped as [`read_error`] does.
pub async fn latest_snapshot<E: std::error::Error>(
    reads: &ReadPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<(i64, Value, Option<Vec<u8>>)>, AggregateError<E>> {
    let client = read_connection(reads).await?;
    let statement = client
        .prepare_cached(
            "SELECT s.last_sequence, s.payload, e.hash FROM snapshots s
               LEFT JOIN events e ON e.aggregate_type = s.aggregate_type
                                 AND e.aggregate_id = s.aggregate_id AND e.sequence = s.last_sequence
              WHERE s.aggregate_type = $1 AND s.aggregate_id = $2",
        )
        .await
        .map_err(read_error)?;
    let row = client
        .query_opt(&statement, &[&aggregate_type, &aggregate_id])
        .await
        .map_err(read_error)?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .transpose()
        .map_err(read_error)
}

/// Whether `guard`'s stream has an event it names after its sequence (for a
/// command that appends nothing, which no insert checks).
///
/// # Errors
/// The database's error, mapped as [`read_error`] does.
pub async fn guard_moved<E: std::error::Error>(
    reads: &ReadPool,
    guard: &super::guard::Guard,
) -> Result<bool, AggregateError<E>> {
    let client = read_connection(reads).await?;
    let statement = client
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events
                             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
                               AND ($4 = '' OR event_type = ANY(string_to_array($4, ','))))",
        )
        .await
        .map_err(read_error)?;
    client
        .query_one(
            &statement,
            &[
                &guard.aggregate_type,
                &guard.aggregate_id,
                &guard.sequence,
                &guard.event_types_text(),
            ],
        )
        .await
        .and_then(|row| row.try_get(0))
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
/// (through [`aggregate_error`]), as in postgres-es. So does a first event
/// whose `batch.previous` is not its predecessor's stored hash
/// (`events_predecessor_moved`, migration 0035). The snapshot only moves
/// forward.
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
                                 payload, metadata, recorded_at, hash)
             SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload, e.metadata, $11,
                    CASE WHEN e.n > 1 THEN e.hash
                         WHEN $12::bytea IS DISTINCT FROM
                                (SELECT p.hash FROM events p
                                  WHERE p.aggregate_type = $1 AND p.aggregate_id = $2
                                    AND p.sequence = e.sequence - 1)
                         THEN events_predecessor_moved($1, $2, e.sequence)
                         WHEN $14::text IS NOT NULL AND EXISTS
                                (SELECT 1 FROM events g
                                  WHERE g.aggregate_type = $14 AND g.aggregate_id = $15
                                    AND g.sequence > $16
                                    AND ($17 = '' OR g.event_type = ANY(string_to_array($17, ','))))
                         THEN events_guard_moved($14, $15)
                         ELSE e.hash END
               FROM unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $13::bytea[])
                    WITH ORDINALITY AS e(sequence, event_type, event_version, payload, metadata, hash, n)
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
    .bind(batch.recorded_at)
    .bind(&batch.previous)
    .bind(&batch.hashes)
    .bind(batch.guard.as_ref().map(|g| g.aggregate_type))
    .bind(batch.guard.as_ref().map(|g| g.aggregate_id.as_str()))
    .bind(batch.guard.as_ref().map(|g| g.sequence))
    .bind(batch.guard.as_ref().map(super::guard::Guard::event_types_text))
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
    let mut recorded_at = Vec::with_capacity(rows);
    let mut hashes = Vec::with_capacity(rows);
    // The predecessor's hash to check, on each stream's first row only (the
    // others chain from rows of the same statement, which it cannot read).
    let mut checks = Vec::with_capacity(rows);
    let mut previous = Vec::with_capacity(rows);
    // A stream's guard, on its first row too.
    let mut guard_types: Vec<Option<&str>> = Vec::with_capacity(rows);
    let mut guard_ids: Vec<Option<&str>> = Vec::with_capacity(rows);
    let mut guard_sequences: Vec<Option<i64>> = Vec::with_capacity(rows);
    let mut guard_events: Vec<Option<String>> = Vec::with_capacity(rows);
    for (aggregate_type, aggregate_id, batch) in streams {
        for n in 0..batch.sequences.len() {
            recorded_at.push(batch.recorded_at);
            hashes.push(batch.hashes.get(n).map(Vec::as_slice));
            checks.push(n == 0);
            previous.push(if n == 0 { batch.previous.as_deref() } else { None });
            let guard = batch.guard.as_ref().filter(|_| n == 0);
            guard_types.push(guard.map(|g| g.aggregate_type));
            guard_ids.push(guard.map(|g| g.aggregate_id.as_str()));
            guard_sequences.push(guard.map(|g| g.sequence));
            guard_events.push(guard.map(super::guard::Guard::event_types_text));
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
                                 payload, metadata, recorded_at, hash)
             SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version,
                    e.payload, e.metadata, e.recorded_at,
                    CASE WHEN NOT e.checked THEN e.hash
                         WHEN e.previous IS DISTINCT FROM
                                (SELECT p.hash FROM events p
                                  WHERE p.aggregate_type = e.aggregate_type
                                    AND p.aggregate_id = e.aggregate_id
                                    AND p.sequence = e.sequence - 1)
                         THEN events_predecessor_moved(e.aggregate_type, e.aggregate_id, e.sequence)
                         WHEN e.guard_type IS NOT NULL AND EXISTS
                                (SELECT 1 FROM events g
                                  WHERE g.aggregate_type = e.guard_type AND g.aggregate_id = e.guard_id
                                    AND g.sequence > e.guard_sequence
                                    AND (e.guard_events = ''
                                         OR g.event_type = ANY(string_to_array(e.guard_events, ','))))
                         THEN events_guard_moved(e.guard_type, e.guard_id)
                         ELSE e.hash END
               FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                           $6::jsonb[], $7::jsonb[], $8::timestamptz[], $9::bytea[], $10::bool[],
                           $11::bytea[], $12::text[], $13::text[], $14::bigint[], $15::text[])
                    WITH ORDINALITY AS e(aggregate_type, aggregate_id, sequence, event_type,
                                         event_version, payload, metadata, recorded_at, hash,
                                         checked, previous, guard_type, guard_id, guard_sequence,
                                         guard_events, n)
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
    .bind(&recorded_at)
    .bind(&hashes)
    .bind(&checks)
    .bind(&previous)
    .bind(&guard_types)
    .bind(&guard_ids)
    .bind(&guard_sequences)
    .bind(&guard_events)
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
        sqlx::Error::Database(ref db) if db.code().as_deref() == Some(super::guard::GUARD_MOVED_SQLSTATE) => {
            AggregateError::UnexpectedError(Box::new(super::guard::FactsMoved))
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
