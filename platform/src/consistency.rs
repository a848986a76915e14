//! Consistency tokens: read-your-writes over an eventually consistent read side.
//!
//! A write answers with a token naming the position of its last event. A query
//! that sends it back in `X-Consistency-Token` waits, for a bounded time, until
//! the read models it uses have applied that position.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

use crate::database::ReadPool;
use crate::event_log::{Position, Xid8};
use crate::problem::Problem;

/// The header a query carries its token in.
pub const HEADER: &str = "X-Consistency-Token";

/// The shape of a token, for the `X-Consistency-Token` header's schema.
#[derive(Debug)]
pub enum TokenFormat {}

impl crate::input::Rule for TokenFormat {
    fn describe(schema: &mut poem_openapi::registry::MetaSchema) {
        schema.pattern = Some(r"^v1\.[0-9]{1,18}\.[0-9]{1,18}$".to_owned());
    }
}

/// The `X-Consistency-Token` header as a parameter.
pub type TokenHeader = crate::input::Text<TokenFormat>;

/// An opaque token for a position in the commit order (`v1.<txid>.<position>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistencyToken(pub Position);

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.0.transaction_id.0, self.0.global_position)
    }
}

impl FromStr for ConsistencyToken {
    type Err = Problem;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || Problem::bad_request(format!("{HEADER} is not a token this server issued"));
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

/// Waits until every projection in `projections` has applied `token`.
///
/// # Errors
/// 503 with `Retry-After` when `timeout` passes first or the database is down.
pub async fn wait_for(
    pool: &ReadPool,
    projections: &[&str],
    token: ConsistencyToken,
    timeout: Duration,
) -> Result<(), Problem> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    let client = pool.get().await.map_err(Problem::from_pool)?;
    let statement = client
        .prepare_cached(
            "SELECT count(*) FROM projection_checkpoints
              WHERE name = ANY($1) AND (transaction_id, global_position) >= ($2, $3)",
        )
        .await
        .map_err(Problem::from_db)?;
    let wanted = i64::try_from(projections.len()).unwrap_or(i64::MAX);
    loop {
        let row = client
            .query_one(
                &statement,
                &[&projections, &token.0.transaction_id, &token.0.global_position],
            )
            .await
            .map_err(Problem::from_db)?;
        let caught_up: i64 = row.get(0);
        if caught_up >= wanted {
            return Ok(());
        }
        if Instant::now() + pause > deadline {
            return Err(Problem::unavailable(
                "the read model has not caught up with your write yet; retry shortly",
                1,
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
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
