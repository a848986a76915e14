//! Short-lived shared state: rate-limit windows, lockout counters and token
//! deny-lists. In Redis when `REDIS_URL` is set, so every process sees the
//! same state; otherwise in this process's memory (the newcomer default, one
//! process). Nothing here is a source of truth: entries expire by themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::prelude::{Expiration, KeysInterface, LuaInterface};

use crate::redis::RedisClient;

/// Increments a counter and starts its window on first use; answers the
/// count and the milliseconds left in the window.
const HIT_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
";

/// Answers a counter's value and the milliseconds left in its window.
const PEEK_SCRIPT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
return {n, ttl}
";

/// Takes one hit back from a counter that still runs (never below zero,
/// never reviving an expired one).
const UNHIT_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
";

/// The shared state store is unreachable.
#[derive(Debug, thiserror::Error)]
#[error("the shared state store (Redis) is unavailable: {0}")]
pub struct Unavailable(String);

impl Unavailable {
    /// The store failed, as `reason` says.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// Where short-lived shared state lives.
#[derive(Clone)]
pub enum Ephemeral {
    /// Redis, shared by every process; keys carry `prefix`.
    Redis {
        /// The client.
        client: RedisClient,
        /// Put before every key (tests use one prefix each).
        prefix: String,
    },
    /// This process's memory.
    Local(Arc<Mutex<HashMap<String, (i64, Instant)>>>),
}

/// A counter's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Hits so far in the window.
    pub count: i64,
    /// Time until the window ends.
    pub remaining: Duration,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX).max(1)
}

fn window_of(values: &[i64]) -> Window {
    let count = values.first().copied().unwrap_or(0);
    let ttl = values.get(1).copied().unwrap_or(0).max(0);
    Window {
        count,
        remaining: Duration::from_millis(u64::try_from(ttl).unwrap_or(0)),
    }
}

impl Ephemeral {
    /// In-process state.
    pub fn local() -> Self {
        Ephemeral::Local(Arc::new(Mutex::new(HashMap::new())))
    }

    /// Redis state under `prefix`.
    pub fn redis(client: RedisClient, prefix: impl Into<String>) -> Self {
        Ephemeral::Redis {
            client,
            prefix: prefix.into(),
        }
    }

    fn with_local<T>(
        map: &Mutex<HashMap<String, (i64, Instant)>>,
        f: impl FnOnce(&mut HashMap<String, (i64, Instant)>, Instant) -> T,
    ) -> T {
        // A poisoned lock only means another thread panicked mid-update of a
        // cache of counters; the data is still usable.
        let mut guard = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if guard.len() > 100_000 {
            guard.retain(|_, (_, expiry)| *expiry > now);
        }
        f(&mut guard, now)
    }

    /// Counts one hit on `key` in a fixed window of `window`.
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn hit(&self, key: &str, window: Duration) -> Result<Window, Unavailable> {
        match self {
            Ephemeral::Redis { client, prefix } => {
                let values: Vec<i64> = client
                    .eval(HIT_SCRIPT, format!("{prefix}{key}"), millis(window))
                    .await
                    .map_err(|e| Unavailable(e.to_string()))?;
                Ok(window_of(&values))
            }
            Ephemeral::Local(map) => Ok(Self::with_local(map, |entries, now| {
                let entry = entries.entry(key.to_owned()).or_insert((0, now + window));
                if entry.1 <= now {
                    *entry = (0, now + window);
                }
                entry.0 += 1;
                Window {
                    count: entry.0,
                    remaining: entry.1 - now,
                }
            })),
        }
    }

    /// Takes back one hit on `key` (an attempt counted up front that turned
    /// out not to count: a sign-in that succeeded).
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn unhit(&self, key: &str) -> Result<(), Unavailable> {
        match self {
            Ephemeral::Redis { client, prefix } => client
                .eval::<i64, _, _, _>(UNHIT_SCRIPT, format!("{prefix}{key}"), Vec::<String>::new())
                .await
                .map(|_| ())
                .map_err(|e| Unavailable(e.to_string())),
            Ephemeral::Local(map) => {
                Self::with_local(map, |entries, now| {
                    if let Some(entry) = entries.get_mut(key)
                        && entry.1 > now
                    {
                        entry.0 = (entry.0 - 1).max(0);
                    }
                });
                Ok(())
            }
        }
    }

    /// The hits counted on `key` in its current window (0 when none).
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn peek(&self, key: &str) -> Result<Window, Unavailable> {
        match self {
            Ephemeral::Redis { client, prefix } => {
                let values: Vec<i64> = client
                    .eval(PEEK_SCRIPT, format!("{prefix}{key}"), Vec::<String>::new())
                    .await
                    .map_err(|e| Unavailable(e.to_string()))?;
                Ok(window_of(&values))
            }
            Ephemeral::Local(map) => Ok(Self::with_local(map, |entries, now| match entries.get(key) {
                Some((count, expiry)) if *expiry > now => Window {
                    count: *count,
                    remaining: *expiry - now,
                },
                _ => Window {
                    count: 0,
                    remaining: Duration::ZERO,
                },
            })),
        }
    }

    /// Stores `value` under `key` for `ttl`.
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn set(&self, key: &str, value: i64, ttl: Duration) -> Result<(), Unavailable> {
        match self {
            Ephemeral::Redis { client, prefix } => client
                .set::<(), _, _>(
                    format!("{prefix}{key}"),
                    value,
                    Some(Expiration::PX(millis(ttl))),
                    None,
                    false,
                )
                .await
                .map_err(|e| Unavailable(e.to_string())),
            Ephemeral::Local(map) => {
                Self::with_local(map, |entries, now| {
                    entries.insert(key.to_owned(), (value, now + ttl))
                });
                Ok(())
            }
        }
    }

    /// The values under `keys`, in order (`None` where absent or expired).
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<i64>>, Unavailable> {
        match self {
            Ephemeral::Redis { client, prefix } => {
                let keys: Vec<String> = keys.iter().map(|k| format!("{prefix}{k}")).collect();
                client.mget(keys).await.map_err(|e| Unavailable(e.to_string()))
            }
            Ephemeral::Local(map) => Ok(Self::with_local(map, |entries, now| {
                keys.iter()
                    .map(|k| {
                        entries
                            .get(k)
                            .filter(|(_, expiry)| *expiry > now)
                            .map(|(v, _)| *v)
                    })
                    .collect()
            })),
        }
    }

    /// Forgets `key`.
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn delete(&self, key: &str) -> Result<(), Unavailable> {
        match self {
            Ephemeral::Redis { client, prefix } => client
                .del::<i64, _>(format!("{prefix}{key}"))
                .await
                .map(|_| ())
                .map_err(|e| Unavailable(e.to_string())),
            Ephemeral::Local(map) => {
                Self::with_local(map, |entries, _| entries.remove(key));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_window_counts_hits_and_restarts_when_it_ends() {
        let store = Ephemeral::local();
        let window = Duration::from_millis(50);
        assert_eq!(store.hit("k", window).await.expect("hit").count, 1);
        assert_eq!(store.hit("k", window).await.expect("hit").count, 2);
        assert_eq!(store.peek("k").await.expect("peek").count, 2);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(store.peek("k").await.expect("peek").count, 0);
        assert_eq!(store.hit("k", window).await.expect("hit").count, 1);
    }

    #[tokio::test]
    async fn local_values_expire() {
        let store = Ephemeral::local();
        store.set("a", 7, Duration::from_millis(30)).await.expect("set");
        let keys = ["a".to_owned(), "b".to_owned()];
        assert_eq!(store.get_many(&keys).await.expect("get"), vec![Some(7), None]);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(store.get_many(&keys).await.expect("get"), vec![None, None]);
    }
}
