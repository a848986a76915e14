//! Rate limits: fixed windows counted in [`Ephemeral`] state, so every
//! process behind one Redis shares them. A refusal is a 429 problem with
//! `Retry-After` and the `RateLimit-*` headers.
//!
//! When Redis is unreachable the limiter lets requests through (and logs):
//! limits protect capacity, and an outage of Redis must not become an outage
//! of sign-in. Token revocation, by contrast, fails closed.

use crate::config::Rate;
use crate::ephemeral::{Ephemeral, Window};
use crate::problem::Problem;

/// The store key of limit `name` for `subject`: its digest, never the
/// address or id itself (a client's address is personal data, and Redis is
/// no place to keep it readable).
fn key(name: &str, subject: &str) -> String {
    format!("rl:{name}:{}", crate::secret_token::digest(subject))
}

/// Checks and counts requests against limits.
#[derive(Clone)]
pub struct RateLimiter {
    store: Ephemeral,
}

fn refusal(what: &str, rate: Rate, window: Window) -> Problem {
    let reset = window.remaining.as_secs().max(1);
    Problem::too_many_requests(format!("too many {what}; retry in {reset} s"), reset)
        .with_header("RateLimit-Limit", rate.max.to_string())
        .with_header("RateLimit-Remaining", "0")
        .with_header("RateLimit-Reset", reset.to_string())
}

impl RateLimiter {
    /// A limiter over `store`.
    pub fn new(store: Ephemeral) -> Self {
        Self { store }
    }

    /// Counts one request of `subject` under `name` and refuses it when the
    /// window is already full. Counting first, atomically, holds against a
    /// burst of concurrent attempts: each takes its own place in the window
    /// (security review F3). A limit on failures alone counts every attempt
    /// here and gives successes back with [`RateLimiter::release`].
    ///
    /// # Errors
    /// 429 when over the limit.
    pub async fn hit(&self, name: &str, subject: &str, rate: Rate, what: &str) -> Result<(), Problem> {
        match self.store.hit(&key(name, subject), rate.window).await {
            Ok(window) if window.count > rate.max => Err(refusal(what, rate, window)),
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, limit = name, "rate limit not enforced");
                Ok(())
            }
        }
    }

    /// Takes back an attempt [`RateLimiter::hit`] counted that turned out
    /// not to count (a sign-in that succeeded, under a limit on failures).
    pub async fn release(&self, name: &str, subject: &str) {
        if let Err(error) = self.store.unhit(&key(name, subject)).await {
            tracing::warn!(%error, limit = name, "rate limit not released");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_request_past_the_limit_gets_429_with_headers() {
        let limiter = RateLimiter::new(Ephemeral::local());
        let rate = Rate {
            max: 2,
            window: Duration::from_secs(60),
        };
        assert!(limiter.hit("t", "ip", rate, "tries").await.is_ok());
        assert!(limiter.hit("t", "ip", rate, "tries").await.is_ok());
        let refused = limiter
            .hit("t", "ip", rate, "tries")
            .await
            .expect_err("third is refused");
        assert_eq!(refused.status().as_u16(), 429);
        assert!(limiter.hit("t", "other-ip", rate, "tries").await.is_ok());
    }
}
