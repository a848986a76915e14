//! Consistency tokens: read-your-writes over an eventually consistent read side.
//!
//! A write answers with a token naming the position of its last event. A query
//! that sends it back in `X-Consistency-Token` waits, for a bounded time, until
//! the read models it uses have applied that position ([`ConsistencyWaits`]):
//! a token that names no stored event is refused at once, a wait holds no
//! database connection, and each principal has a few waits at a time.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;
use uuid::Uuid;

use crate::database::ReadPool;
use crate::error::StoreError;
use crate::event_log::{Position, Xid8};
use crate::wakeup::Wakeup;

/// The header a query carries its token in.
pub const HEADER: &str = "X-Consistency-Token";

/// The pattern every token matches (for the header's schema).
pub const TOKEN_PATTERN: &str = r"^v1\.[0-9]{1,18}\.[0-9]{1,18}$";

/// Text that is not a token this server issued (a 400).
#[derive(Debug, thiserror::Error)]
#[error("{HEADER} is not a token this server issued")]
pub struct InvalidToken;

/// Why a read could not wait for its token.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The token names no event this store holds: forged, or from another
    /// server (a 400).
    #[error("{HEADER} names no event this server wrote")]
    NotIssued,
    /// The principal has [`WAITS_PER_PRINCIPAL`] waits going on (a 429).
    #[error("too many of your reads are waiting for your writes at once; retry shortly")]
    TooManyWaits,
    /// The time ran out before the read models caught up (a 503).
    #[error("{0}")]
    Behind(&'static str),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An opaque token for a position in the commit order (`v1.<txid>.<position>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistencyToken(pub Position);

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.0.transaction_id.0, self.0.global_position)
    }
}

impl FromStr for ConsistencyToken {
    type Err = InvalidToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidToken;
        let mut parts = s.trim().split('.');
        if parts.next() != Some("v1") {
            return Err(invalid());
        }
        let transaction_id = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
        let global_position = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(Self(Position {
            transaction_id: Xid8(transaction_id),
            global_position,
        }))
    }
}

/// How often a wait looks again when no progress notification arrives (the
/// listener reconnecting, say).
const POLL: Duration = Duration::from_millis(100);

/// How often a wait on a read replica looks again: replay follows the
/// primary's notification by a few milliseconds.
const POLL_REPLICA: Duration = Duration::from_millis(10);

/// Reads waiting on consistency tokens at once, per principal: more are
/// refused (429), so no one can pile up waiters (security review F2).
pub const WAITS_PER_PRINCIPAL: usize = 8;

/// Waits until every projection in `projections` has applied `token`,
/// polling with a connection taken for each check and given back before
/// each pause (for waits outside a request's read path, with no progress
/// notifications at hand: an API key created a moment ago).
///
/// # Errors
/// [`WaitError::Behind`] when `timeout` passes first; the database's error.
pub async fn poll_until_applied(
    pool: &ReadPool,
    projections: &[&str],
    token: ConsistencyToken,
    timeout: Duration,
) -> Result<(), WaitError> {
    let deadline = Instant::now() + timeout;
    let mut pauses = ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(50))
        .without_max_times()
        .build();
    loop {
        if let Standing::CaughtUp = standing(pool, projections, token, false).await? {
            return Ok(());
        }
        let pause = pauses.next().unwrap_or(Duration::from_millis(50));
        if Instant::now() + pause > deadline {
            return Err(WaitError::Behind(
                "the read model has not caught up yet; retry shortly",
            ));
        }
        tokio::time::sleep(pause).await;
    }
}

/// Where a token stands against the read models.
enum Standing {
    /// Every projection asked for has applied it.
    CaughtUp,
    /// Some have not yet.
    Behind,
    /// It names no event this store holds: forged, or from another server.
    NotIssued,
}

/// Waits for consistency tokens: checks with a connection taken for one
/// statement and given back at once, and between checks waits on the
/// projectors' progress notifications (`zekka_projected`) holding nothing
/// but a task. A token that names no stored event is refused at once.
pub struct ConsistencyWaits {
    pool: ReadPool,
    /// The primary, when `pool` is a replica: a token the replica has no
    /// event for may name one it has not replayed yet.
    primary: Option<ReadPool>,
    /// How often a wait looks again between notifications.
    poll: Duration,
    progress: Wakeup,
    timeout: Duration,
    waiting: Mutex<HashMap<Uuid, usize>>,
}

/// One principal's wait in progress; counted down when dropped.
struct WaitSlot<'a> {
    waits: &'a ConsistencyWaits,
    principal: Uuid,
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.waits.waiting.lock()
            && let Some(count) = waiting.get_mut(&self.principal)
        {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.principal);
            }
        }
    }
}

impl ConsistencyWaits {
    /// Waits over `pool`, woken by `progress`, for at most `timeout`.
    pub fn new(pool: ReadPool, progress: Wakeup, timeout: Duration) -> Self {
        Self {
            pool,
            primary: None,
            poll: POLL,
            progress,
            timeout,
            waiting: Mutex::new(HashMap::new()),
        }
    }

    /// Waits on a read replica of `primary`: the projectors' notifications
    /// come from the primary before the replica has replayed what they
    /// announce, so a wait looks again every [`POLL_REPLICA`]; a token the
    /// replica holds no event for is checked against the primary before
    /// it is refused.
    pub fn on_replica_of(mut self, primary: ReadPool) -> Self {
        self.primary = Some(primary);
        self.poll = POLL_REPLICA;
        self
    }

    fn slot(&self, principal: Uuid) -> Result<WaitSlot<'_>, WaitError> {
        // A poisoned count only ever held whole numbers: go on with it.
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = waiting.entry(principal).or_default();
        if *count >= WAITS_PER_PRINCIPAL {
            return Err(WaitError::TooManyWaits);
        }
        *count += 1;
        Ok(WaitSlot {
            waits: self,
            principal,
        })
    }

    /// Waits until every projection in `projections` has applied `token`,
    /// as a read of `principal` (a user, or the person behind an API key).
    ///
    /// # Errors
    /// [`WaitError::NotIssued`] for a token naming no stored event;
    /// [`WaitError::TooManyWaits`] when the principal has
    /// [`WAITS_PER_PRINCIPAL`] waits going on already; [`WaitError::Behind`]
    /// when the time runs out; the database's error.
    pub async fn wait_for(
        &self,
        principal: Uuid,
        projections: &[&str],
        token: ConsistencyToken,
    ) -> Result<(), WaitError> {
        let deadline = Instant::now() + self.timeout;
        let mut progress = self.progress.clone();
        progress.mark_seen();
        match standing(&self.pool, projections, token, true).await? {
            Standing::CaughtUp => return Ok(()),
            Standing::NotIssued => match &self.primary {
                Some(primary) if matches!(standing(primary, &[], token, true).await?, Standing::CaughtUp) => {
                }
                _ => return Err(WaitError::NotIssued),
            },
            Standing::Behind => {}
        }
        let _slot = self.slot(principal)?;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::Behind(
                    "the read model has not caught up with your write yet; retry shortly",
                ));
            }
            tokio::select! {
                () = progress.notified() => {}
                () = tokio::time::sleep(self.poll.min(deadline - now)) => {}
            }
            // Whatever arrives from here on wakes the next wait.
            progress.mark_seen();
            if let Standing::CaughtUp = standing(&self.pool, projections, token, false).await? {
                return Ok(());
            }
        }
    }
}

/// Where `token` stands, read with a connection held for one statement.
async fn standing(
    pool: &ReadPool,
    projections: &[&str],
    token: ConsistencyToken,
    check_issued: bool,
) -> Result<Standing, StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT (SELECT count(*) FROM projection_checkpoints
                      WHERE name = ANY($1) AND (transaction_id, global_position) >= ($2, $3)),
                    NOT $4 OR EXISTS (SELECT 1 FROM events WHERE transaction_id = $2 AND global_position = $3)",
        )
        .await?;
    let row = client
        .query_one(
            &statement,
            &[
                &projections,
                &token.0.transaction_id,
                &token.0.global_position,
                &check_issued,
            ],
        )
        .await?;
    let caught_up: i64 = row.try_get(0)?;
    let issued: bool = row.try_get(1)?;
    let wanted = i64::try_from(projections.len()).unwrap_or(i64::MAX);
    Ok(if !issued {
        Standing::NotIssued
    } else if caught_up >= wanted {
        Standing::CaughtUp
    } else {
        Standing::Behind
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_through_its_text() {
        let token = ConsistencyToken(Position {
            transaction_id: Xid8(981),
            global_position: 42,
        });
        assert_eq!(token.to_string().parse::<ConsistencyToken>().ok(), Some(token));
    }

    #[test]
    fn foreign_tokens_are_rejected() {
        for bad in ["", "v1", "v2.1.2", "v1.x.2", "v1.1.2.3", "v1.-1.2"] {
            assert!(bad.parse::<ConsistencyToken>().is_err(), "{bad}");
        }
    }
}
