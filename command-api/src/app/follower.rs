//! A follower of the event stream that is not a projection: it keeps its
//! place in `process_checkpoints` and acts on what it reads (the
//! orchestrator issues commands, the webhook outbox enqueues deliveries).
//! Several processes take turns through an advisory lock; a new follower
//! starts at the head (nothing it reacts to can predate it).

use std::time::Duration;

use deadpool_postgres::Transaction;
use zekka_event_store::event_log::{self, Position, StoredEvent, Xid8};

use crate::app::error::AppError;

/// How long a follower woken by an append waits for more before it reads:
/// under load appends are announced every 2 ms, and a batch per
/// announcement would cost each follower a transaction every few
/// milliseconds (12–14 % of the command rate in the side-by-side
/// benchmark, `docs/performance.md`); a tenth of a second of reaction
/// time costs nobody anything.
pub const COALESCE: Duration = Duration::from_millis(100);

/// Which payloads a follower's batches carry (other events pass by with
/// `Null` payloads, costing their positions only).
#[derive(Debug, Clone, Copy)]
pub enum Payloads {
    /// Those of the events named here.
    OfEvents(&'static [&'static str]),
    /// None: the follower looks at streams and names first, and reads the
    /// payloads it needs with [`Follower::payloads_between`].
    None,
}

/// One follower: its checkpoint's name and the payloads it reads.
#[derive(Debug, Clone, Copy)]
pub struct Follower {
    /// Its checkpoint's name.
    pub name: &'static str,
    /// The payloads its batches carry.
    pub payloads: Payloads,
}

impl Follower {
    /// An advisory-lock key per follower (FNV-1a of its name, apart from
    /// the projections' keys by a prefix of its own).
    fn lease_key(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in "zekka.follower:".bytes().chain(self.name.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    /// Takes this follower's turn for `tx` and reads up to `limit` events
    /// after its checkpoint; `None` when another process has the turn, or
    /// on the first start (the checkpoint is set at the head in `tx`,
    /// which the caller commits).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn next_batch(
        &self,
        tx: &Transaction<'_>,
        limit: i64,
    ) -> Result<Option<(Position, Vec<StoredEvent>)>, AppError> {
        // Committed asynchronously, as projector batches are: what a batch
        // writes (its checkpoint, an outbox's rows) is derived from events
        // already durable, so a crash that loses the last batches loses them
        // whole, and they are done again from the events.
        let row = tx
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1), c.transaction_id, c.global_position,
                        set_config('synchronous_commit', 'off', true)
                   FROM (VALUES (1)) AS one (n)
                   LEFT JOIN process_checkpoints c ON c.name = $2",
                &[&self.lease_key(), &self.name],
            )
            .await?;
        if !row.try_get::<_, bool>(0)? {
            return Ok(None);
        }
        let Some(transaction_id) = row.try_get::<_, Option<Xid8>>(1)? else {
            let head = event_log::stable_head(tx).await?;
            tx.execute(
                "INSERT INTO process_checkpoints (name, transaction_id, global_position) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&self.name, &head.transaction_id, &head.global_position],
            )
            .await?;
            return Ok(None);
        };
        let from = Position {
            transaction_id,
            global_position: row.try_get(2)?,
        };
        let events = match self.payloads {
            Payloads::OfEvents(event_types) => {
                event_log::read_after_for_events(tx, from, limit, event_types).await?
            }
            Payloads::None => event_log::read_after(tx, from, limit, &event_log::NO_PAYLOADS).await?,
        };
        Ok(Some((from, events)))
    }

    /// The `count` events after `after` up to `until` (included) with the
    /// payloads of `aggregate_types`: a batch read again, the same events
    /// (they are all older than every running transaction), once the
    /// follower knows it needs them.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn payloads_between(
        tx: &Transaction<'_>,
        (after, until): (Position, Position),
        count: usize,
        aggregate_types: &[&str],
    ) -> Result<Vec<StoredEvent>, AppError> {
        let limit = i64::try_from(count).unwrap_or(i64::MAX);
        Ok(event_log::read_between(tx, after, Some(until), limit, aggregate_types).await?)
    }

    /// Moves the checkpoint to `reached` in `tx`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn advance(&self, tx: &Transaction<'_>, reached: Position) -> Result<(), AppError> {
        tx.execute(
            "UPDATE process_checkpoints SET transaction_id = $2, global_position = $3, updated_at = now()
              WHERE name = $1",
            &[&self.name, &reached.transaction_id, &reached.global_position],
        )
        .await?;
        Ok(())
    }
}
