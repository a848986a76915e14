//! File locks on the context bus (DESIGN.md's Redis context bus): an agent
//! locks a file before changing it; another agent's attempt is refused
//! while the lock lives (its TTL).
//!
//! Each lock carries a fencing token that increases strictly per file path,
//! so a holder whose lock expired while it stalled is told from the new
//! one by anything that checks the token. The counter lives in Redis next
//! to the lock; when Redis has lost it (a restart: it keeps nothing on
//! disk), the caller supplies the highest token ever recorded for the path
//! (the acquisitions are events) and counting goes on above it.
//!
//! One Lua script per operation keeps each atomic. Without Redis the same
//! rules hold in this process's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fred::prelude::{HashesInterface, KeysInterface, LuaInterface, SortedSetsInterface};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ephemeral::{Ephemeral, Unavailable};
use crate::redis::RedisClient;

/// A lock held now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The lock's id.
    pub lock_id: Uuid,
    /// The file, as the agent named it.
    pub file_path: String,
    /// Who holds it.
    pub agent_id: Uuid,
    /// Its place in the path's order of locks.
    pub fencing_token: i64,
    /// When it lapses unless released before.
    pub expires_at: DateTime<Utc>,
}

/// What an attempt to lock a file came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The lock is the caller's.
    Granted(Lock),
    /// Another agent (or the caller itself) holds the file.
    Held(Lock),
    /// The path's counter is gone: call again with the highest token ever
    /// recorded for it.
    NeedsFloor,
}

const ACQUIRE: &str = r"
local held = redis.call('HGETALL', KEYS[1])
if #held > 0 then return {0, held} end
local floor = tonumber(ARGV[5])
local current = redis.call('GET', KEYS[2])
if not current and floor < 0 then return {2} end
if floor >= 0 and (not current or tonumber(current) < floor) then redis.call('SET', KEYS[2], floor) end
local fence = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'lock_id', ARGV[1], 'agent_id', ARGV[2], 'fence', fence, 'expires', ARGV[4], 'path', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[4], KEYS[1], 'PX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], KEYS[1])
return {1, fence}
";

const RELEASE: &str = r"
local key = redis.call('GET', KEYS[1])
if not key then return {} end
local held = redis.call('HGETALL', key)
redis.call('DEL', KEYS[1])
local id = redis.call('HGET', key, 'lock_id')
if id == ARGV[1] then redis.call('DEL', key) end
redis.call('ZREM', KEYS[2], key)
return held
";

/// A lock as the in-process store keeps it: the lock and its deadline.
type LocalLock = (Lock, std::time::Instant);

/// In-process locks, counters and contention episodes.
#[derive(Default)]
struct Local {
    locks: HashMap<(Uuid, String), LocalLock>,
    fences: HashMap<(Uuid, String), i64>,
    episodes: HashMap<String, std::time::Instant>,
}

enum Backend {
    Redis { client: RedisClient, prefix: String },
    Local(Mutex<Local>),
}

/// The context bus's file locks.
pub struct LockBus {
    backend: Backend,
}

fn path_key(file_path: &str) -> String {
    hex::encode(Sha256::digest(file_path.as_bytes()))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX).max(1)
}

fn unavailable(error: impl std::fmt::Display) -> Unavailable {
    Unavailable::new(error.to_string())
}

/// A lock read back from its Redis hash (`HGETALL`'s field/value list).
fn lock_of(fields: &[String]) -> Option<Lock> {
    let map: HashMap<&str, &str> = fields
        .chunks(2)
        .filter_map(|pair| Some((pair.first()?.as_str(), pair.get(1)?.as_str())))
        .collect();
    Some(Lock {
        lock_id: map.get("lock_id")?.parse().ok()?,
        agent_id: map.get("agent_id")?.parse().ok()?,
        fencing_token: map.get("fence")?.parse().ok()?,
        expires_at: DateTime::from_timestamp_millis(map.get("expires")?.parse().ok()?)?,
        file_path: (*map.get("path")?).to_owned(),
    })
}

impl LockBus {
    /// Locks where `ephemeral` keeps its state: Redis, or this process.
    pub fn new(ephemeral: &Ephemeral) -> Self {
        let backend = match ephemeral {
            Ephemeral::Redis { client, prefix } => Backend::Redis {
                client: client.clone(),
                prefix: prefix.clone(),
            },
            Ephemeral::Local(_) => Backend::Local(Mutex::new(Local::default())),
        };
        Self { backend }
    }

    /// Tries to lock `file_path` in `project` for `agent` for `ttl`. `floor`
    /// is the highest fencing token recorded for the path, when
    /// [`Attempt::NeedsFloor`] asked for it.
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn acquire(
        &self,
        project: Uuid,
        file_path: &str,
        agent: Uuid,
        ttl: Duration,
        floor: Option<i64>,
    ) -> Result<Attempt, Unavailable> {
        let lock_id = Uuid::now_v7();
        let expires_at = Utc::now() + chrono::Duration::milliseconds(millis(ttl));
        match &self.backend {
            Backend::Redis { client, prefix } => {
                let path = path_key(file_path);
                let keys = vec![
                    format!("{prefix}lock:{project}:{path}"),
                    format!("{prefix}fence:{project}:{path}"),
                    format!("{prefix}locks:{project}"),
                    format!("{prefix}lockid:{lock_id}"),
                ];
                let args = vec![
                    lock_id.to_string(),
                    agent.to_string(),
                    millis(ttl).to_string(),
                    expires_at.timestamp_millis().to_string(),
                    floor.unwrap_or(-1).to_string(),
                    file_path.to_owned(),
                ];
                let answer: Vec<fred::types::Value> =
                    client.eval(ACQUIRE, keys, args).await.map_err(unavailable)?;
                let code = answer.first().and_then(fred::types::Value::as_i64).unwrap_or(-1);
                match code {
                    1 => Ok(Attempt::Granted(Lock {
                        lock_id,
                        file_path: file_path.to_owned(),
                        agent_id: agent,
                        fencing_token: answer.get(1).and_then(fred::types::Value::as_i64).unwrap_or(0),
                        expires_at,
                    })),
                    0 => {
                        let fields: Vec<String> = answer
                            .get(1)
                            .cloned()
                            .map(|v| v.convert().unwrap_or_default())
                            .unwrap_or_default();
                        lock_of(&fields)
                            .map(Attempt::Held)
                            .ok_or_else(|| unavailable("a lock in Redis is unreadable"))
                    }
                    2 => Ok(Attempt::NeedsFloor),
                    _ => Err(unavailable("unexpected answer from the lock script")),
                }
            }
            Backend::Local(local) => {
                let mut local = local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = std::time::Instant::now();
                let key = (project, file_path.to_owned());
                if let Some((held, until)) = local.locks.get(&key)
                    && *until > now
                {
                    return Ok(Attempt::Held(held.clone()));
                }
                let fence = {
                    let counter = local.fences.entry(key.clone()).or_insert(floor.unwrap_or(0));
                    *counter = (*counter).max(floor.unwrap_or(0)) + 1;
                    *counter
                };
                let lock = Lock {
                    lock_id,
                    file_path: file_path.to_owned(),
                    agent_id: agent,
                    fencing_token: fence,
                    expires_at,
                };
                local.locks.insert(key, (lock.clone(), now + ttl));
                Ok(Attempt::Granted(lock))
            }
        }
    }

    /// Releases lock `lock_id` of `project`; `None` when it is not held
    /// (released already, or lapsed).
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn release(&self, project: Uuid, lock_id: Uuid) -> Result<Option<Lock>, Unavailable> {
        match &self.backend {
            Backend::Redis { client, prefix } => {
                let keys = vec![
                    format!("{prefix}lockid:{lock_id}"),
                    format!("{prefix}locks:{project}"),
                ];
                let fields: Vec<String> = client
                    .eval(RELEASE, keys, vec![lock_id.to_string()])
                    .await
                    .map_err(unavailable)?;
                Ok(lock_of(&fields).filter(|lock| lock.lock_id == lock_id))
            }
            Backend::Local(local) => {
                let mut local = local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = std::time::Instant::now();
                let key = local
                    .locks
                    .iter()
                    .find(|((p, _), (lock, until))| *p == project && lock.lock_id == lock_id && *until > now)
                    .map(|(key, _)| key.clone());
                Ok(key.and_then(|key| local.locks.remove(&key)).map(|(lock, _)| lock))
            }
        }
    }

    /// Lock `lock_id` of `project`, when it is held now.
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn get(&self, project: Uuid, lock_id: Uuid) -> Result<Option<Lock>, Unavailable> {
        match &self.backend {
            Backend::Redis { client, prefix } => {
                let key: Option<String> = client
                    .get(format!("{prefix}lockid:{lock_id}"))
                    .await
                    .map_err(unavailable)?;
                let Some(key) = key.filter(|key| key.starts_with(&format!("{prefix}lock:{project}:"))) else {
                    return Ok(None);
                };
                let fields: HashMap<String, String> = client.hgetall(&key).await.map_err(unavailable)?;
                let flat: Vec<String> = fields.into_iter().flat_map(|(k, v)| [k, v]).collect();
                Ok(lock_of(&flat).filter(|lock| lock.lock_id == lock_id))
            }
            Backend::Local(_) => Ok(self
                .held(project)
                .await?
                .into_iter()
                .find(|lock| lock.lock_id == lock_id)),
        }
    }

    /// The locks of `project` held now, by file path.
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn held(&self, project: Uuid) -> Result<Vec<Lock>, Unavailable> {
        let mut locks = match &self.backend {
            Backend::Redis { client, prefix } => {
                let index = format!("{prefix}locks:{project}");
                let now = Utc::now().timestamp_millis();
                let _: i64 = client
                    .zremrangebyscore(&index, f64::NEG_INFINITY, now as f64)
                    .await
                    .map_err(unavailable)?;
                let keys: Vec<String> = client
                    .zrange(&index, 0, -1, None, false, None, false)
                    .await
                    .map_err(unavailable)?;
                let mut locks = Vec::with_capacity(keys.len());
                for key in keys {
                    let fields: HashMap<String, String> = client.hgetall(&key).await.map_err(unavailable)?;
                    let flat: Vec<String> = fields.into_iter().flat_map(|(k, v)| [k, v]).collect();
                    locks.extend(lock_of(&flat));
                }
                locks
            }
            Backend::Local(local) => {
                let local = local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = std::time::Instant::now();
                local
                    .locks
                    .iter()
                    .filter(|((p, _), (_, until))| *p == project && *until > now)
                    .map(|(_, (lock, _))| lock.clone())
                    .collect()
            }
        };
        locks.sort_by(|a, b| a.file_path.cmp(&b.file_path));
        Ok(locks)
    }

    /// Whether this is the first time `contender` meets lock `lock_id`: a
    /// contention episode lasts as long as the lock, and is reported once.
    ///
    /// # Errors
    /// When Redis is unreachable.
    pub async fn first_contention(&self, lock: &Lock, contender: Uuid) -> Result<bool, Unavailable> {
        let left = (lock.expires_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
        let episode = format!("contention:{}:{contender}", lock.lock_id);
        match &self.backend {
            Backend::Redis { client, prefix } => {
                let set: Option<String> = client
                    .set(
                        format!("{prefix}{episode}"),
                        1,
                        Some(fred::types::Expiration::PX(millis(left))),
                        Some(fred::types::SetOptions::NX),
                        false,
                    )
                    .await
                    .map_err(unavailable)?;
                Ok(set.is_some())
            }
            Backend::Local(local) => {
                let mut local = local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = std::time::Instant::now();
                local.episodes.retain(|_, until| *until > now);
                Ok(local.episodes.insert(episode, now + left).is_none())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LockBus {
        LockBus::new(&Ephemeral::local())
    }

    #[tokio::test]
    async fn a_held_file_is_refused_to_others_and_fencing_tokens_only_grow() {
        let bus = local();
        let (project, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let ttl = Duration::from_secs(60);
        let Ok(Attempt::Granted(first)) = bus.acquire(project, "src/main.rs", a, ttl, None).await else {
            panic!("the first attempt is granted");
        };
        let held = bus.acquire(project, "src/main.rs", b, ttl, None).await;
        assert_eq!(held.ok(), Some(Attempt::Held(first.clone())));
        assert_eq!(
            bus.release(project, first.lock_id).await.ok(),
            Some(Some(first.clone()))
        );
        let Ok(Attempt::Granted(second)) = bus.acquire(project, "src/main.rs", b, ttl, Some(40)).await else {
            panic!("granted once released");
        };
        assert!(second.fencing_token > first.fencing_token.max(40), "{second:?}");
        assert!(bus.first_contention(&second, a).await.unwrap_or(false));
        assert!(!bus.first_contention(&second, a).await.unwrap_or(true));
    }
}
