//! Reading the event store in commit order, without gaps.
//!
//! `global_position` values are handed out before commit, so a reader that
//! polls `global_position > last` skips an event whose transaction commits
//! after a later one. Instead events are read in `(transaction_id,
//! global_position)` order and only from transactions older than the oldest
//! one still running: those can no longer change, so nothing can appear
//! behind a reader's position later.

use std::error::Error;
use std::fmt;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use zekka_domain::upcasting;

/// A PostgreSQL `xid8`: a 64-bit transaction id that never wraps around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Xid8(pub u64);

impl<'a> FromSql<'a> for Xid8 {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into().map_err(|_| "xid8 must be 8 bytes")?;
        Ok(Self(u64::from_be_bytes(bytes)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::XID8
    }
}

impl ToSql for Xid8 {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::XID8
    }

    to_sql_checked!();
}

/// A place in the commit order: the transaction that wrote an event and the
/// event's global position. Ordered as a pair, which is the catch-up order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// The writing transaction.
    pub transaction_id: Xid8,
    /// The event's global position.
    pub global_position: i64,
}

impl Position {
    /// Before every event.
    pub const START: Position = Position {
        transaction_id: Xid8(0),
        global_position: 0,
    };
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.transaction_id.0, self.global_position)
    }
}

/// One event as stored.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Where it stands in the commit order.
    pub position: Position,
    /// Its aggregate's type (`Project`, `User`, …).
    pub aggregate_type: String,
    /// Its aggregate's id.
    pub aggregate_id: String,
    /// Its place in its aggregate's stream, from 1.
    pub sequence: i64,
    /// The event's name (`ProjectCreated`, …).
    pub event_type: String,
    /// The event's schema version.
    pub event_version: String,
    /// The payload, externally tagged (`{"ProjectCreated": {…}}`); `Null` when
    /// the reader asked only for other aggregate types' payloads.
    pub payload: Value,
    /// When it was committed.
    pub recorded_at: DateTime<Utc>,
}

/// Reads up to `limit` events after `after` in commit order, only from
/// transactions that can no longer be running, each in its current shape
/// (old versions upcast), without metadata (projections never need it; the
/// audit routes read it themselves). Payloads are fetched only for
/// `payload_types` (all types when empty): a projection still advances past
/// the events it ignores without transferring them.
///
/// # Errors
/// When the query fails.
pub async fn read_after(
    client: &impl GenericClient,
    after: Position,
    limit: i64,
    payload_types: &[&str],
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    read_between(client, after, None, limit, payload_types).await
}

/// A payload filter no aggregate type matches: [`read_after`] with it reads
/// positions, streams and event names only (a follower that looks before it
/// loads).
pub const NO_PAYLOADS: [&str; 1] = ["-"];

/// [`read_after`] with payloads only for events named in `event_types`: a
/// follower that reacts to a few kinds of events passes the others (a
/// project's usage records, say) without transferring them.
///
/// # Errors
/// When the query fails.
pub async fn read_after_for_events(
    client: &impl GenericClient,
    after: Position,
    limit: i64,
    event_types: &[&str],
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    read_range(client, after, None, limit, (&[], event_types)).await
}

/// [`read_after`], stopping at `until` (included) when given: a rebuild
/// catching up to exactly the position the live model stands at.
///
/// # Errors
/// When the query fails.
pub async fn read_between(
    client: &impl GenericClient,
    after: Position,
    until: Option<Position>,
    limit: i64,
    payload_types: &[&str],
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    read_range(client, after, until, limit, (payload_types, &[])).await
}

/// The one catch-up read: events after `after` (up to `until`), each with
/// its payload when its aggregate type is among `aggregate_types` and its
/// name among `event_types` (an empty list admits every one).
async fn read_range(
    client: &impl GenericClient,
    after: Position,
    until: Option<Position>,
    limit: i64,
    (aggregate_types, event_types): (&[&str], &[&str]),
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    let (until_transaction, until_position) = match until {
        Some(until) => (Some(until.transaction_id), Some(until.global_position)),
        None => (None, None),
    };
    // Prepared once per connection: projectors run this for every batch.
    let statement = client
        .prepare_cached(
            "SELECT transaction_id, global_position, aggregate_type, aggregate_id, sequence,
                    event_type, event_version,
                    CASE WHEN (cardinality($4::text[]) = 0 OR aggregate_type = ANY($4))
                          AND (cardinality($7::text[]) = 0 OR event_type = ANY($7)) THEN payload END,
                    recorded_at
               FROM events
              WHERE (transaction_id, global_position) > ($1, $2)
                AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                AND ($5::xid8 IS NULL OR (transaction_id, global_position) <= ($5, $6))
              ORDER BY transaction_id, global_position
              LIMIT $3",
        )
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &after.transaction_id,
                &after.global_position,
                &limit,
                &aggregate_types,
                &until_transaction,
                &until_position,
                &event_types,
            ],
        )
        .await?;
    rows.iter().map(StoredEvent::from_row).collect()
}

/// The columns [`StoredEvent::from_row`] reads, in its order (`e` is `events`).
pub const EVENT_COLUMNS: &str =
    "e.transaction_id, e.global_position, e.aggregate_type, e.aggregate_id, e.sequence,
    e.event_type, e.event_version, e.payload, e.recorded_at";

impl Position {
    /// The position in columns `at` (transaction id) and `at + 1` (global position).
    ///
    /// # Errors
    /// When the columns are not of those types.
    pub fn from_row(row: &tokio_postgres::Row, at: usize) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            transaction_id: row.try_get(at)?,
            global_position: row.try_get(at + 1)?,
        })
    }
}

impl StoredEvent {
    /// An event from a row of [`EVENT_COLUMNS`] (a `NULL` payload reads as
    /// `Null`), upcast to the current shape.
    ///
    /// # Errors
    /// When the columns are not of those types.
    pub fn from_row(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        let event_type: String = row.try_get(5)?;
        let (event_version, payload) = match row.try_get::<_, Option<Value>>(7)? {
            Some(payload) => upcasting::upcast(&event_type, &row.try_get::<_, String>(6)?, payload),
            None => (row.try_get(6)?, Value::Null),
        };
        Ok(Self {
            position: Position::from_row(row, 0)?,
            aggregate_type: row.try_get(2)?,
            aggregate_id: row.try_get(3)?,
            sequence: row.try_get(4)?,
            event_type,
            event_version,
            payload,
            recorded_at: row.try_get(8)?,
        })
    }
}

/// How many committed events lie after `after`: a projection's lag.
///
/// # Errors
/// When the query fails.
pub async fn count_after(client: &impl GenericClient, after: Position) -> Result<i64, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT count(*) FROM events WHERE (transaction_id, global_position) > ($1, $2)",
            &[&after.transaction_id, &after.global_position],
        )
        .await?;
    row.try_get(0)
}

/// How long the oldest committed event after `after` has waited, in
/// seconds (0 when there is none): a projection's lag in time.
///
/// # Errors
/// When the query fails.
pub async fn seconds_behind(
    client: &impl GenericClient,
    after: Position,
) -> Result<f64, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT coalesce(extract(epoch FROM now() - (
                 SELECT recorded_at FROM events
                  WHERE (transaction_id, global_position) > ($1, $2)
                  ORDER BY transaction_id, global_position LIMIT 1))::float8, 0)",
            &[&after.transaction_id, &after.global_position],
        )
        .await?;
    row.try_get(0)
}

/// The last event of the commit order that can no longer be preceded by
/// another (its transaction is older than every running one): where a
/// live follower may start without missing anything. `START` when none.
///
/// # Errors
/// When the query fails.
pub async fn stable_head(client: &impl GenericClient) -> Result<Position, tokio_postgres::Error> {
    let statement = client
        .prepare_cached(
            "SELECT transaction_id, global_position FROM events
              WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
        )
        .await?;
    Ok(match client.query_opt(&statement, &[]).await? {
        Some(row) => Position::from_row(&row, 0)?,
        None => Position::START,
    })
}

/// Which streams a replay reads.
#[derive(Debug, Clone, Copy)]
pub enum ReplayScope<'a> {
    /// Every stream of a project (as the `streams` read model maps them).
    Project(uuid::Uuid),
    /// One stream.
    Stream {
        /// Its type.
        aggregate_type: &'a str,
        /// Its id.
        aggregate_id: &'a str,
    },
}

/// Up to `limit` events of `scope` after `after` up to `until` (included),
/// in commit order, upcast: what a client that reconnects missed.
///
/// # Errors
/// When the query fails.
pub async fn replay(
    client: &impl GenericClient,
    scope: ReplayScope<'_>,
    after: Position,
    until: Position,
    limit: i64,
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    let (condition, project, aggregate_type, aggregate_id) = match scope {
        ReplayScope::Project(project) => (
            "(e.aggregate_type, e.aggregate_id) IN
                 (SELECT aggregate_type, aggregate_id FROM rm_streams WHERE project_id = $5)
             AND $6::text IS NULL AND $7::text IS NULL",
            Some(project),
            None,
            None,
        ),
        ReplayScope::Stream {
            aggregate_type,
            aggregate_id,
        } => (
            "e.aggregate_type = $6 AND e.aggregate_id = $7 AND $5::uuid IS NULL",
            None,
            Some(aggregate_type),
            Some(aggregate_id),
        ),
    };
    let statement = client
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e
              WHERE (e.transaction_id, e.global_position) > ($1, $2)
                AND (e.transaction_id, e.global_position) <= ($3, $4)
                AND {condition}
              ORDER BY e.transaction_id, e.global_position
              LIMIT $8"
        ))
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &after.transaction_id,
                &after.global_position,
                &until.transaction_id,
                &until.global_position,
                &project,
                &aggregate_type,
                &aggregate_id,
                &limit,
            ],
        )
        .await?;
    rows.iter().map(StoredEvent::from_row).collect()
}
