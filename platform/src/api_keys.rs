//! Project API keys: how agent processes authenticate (CONTRACT.md, "Agent
//! integration").
//!
//! A key reads `zk_<key id, 32 hex>_<secret, 64 hex>`. The secret is shown
//! once; only its SHA-256 is kept (in the `ApiKeyCreated` event, projected
//! to `rm_api_keys`). Verifying a key:
//!
//! 1. its record comes from this process's cache, else from `rm_api_keys`
//!    (after waiting, bounded, for the `projects` projection when the key is
//!    newer than it: a key works as soon as its 201 is answered);
//! 2. the secret's digest is compared in constant time;
//! 3. the deny-list in [`Ephemeral`] (Redis) is checked: revoking writes
//!    there first, so a revoked key is refused at once by every process. It
//!    fails closed when Redis is down, like access tokens.
//!
//! A cached record is read again after [`CACHE_TTL`], so a deny-list lost
//! with a Redis restart cannot keep a revoked key alive longer than that.
//! `last_used_at` is kept in memory and written every few seconds
//! ([`ApiKeys::flush_usage`]), not once per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;
use zekka_domain::project::Scope;

use crate::ephemeral::{Ephemeral, Unavailable};
use crate::secret_token;
use zekka_event_store::consistency::{self, ConsistencyToken};
use zekka_event_store::database::{CachedQueries, ReadPool};
use zekka_event_store::event_log::Position;
use zekka_event_store::lookups::positions;

/// What every key starts with, so a key is told from an access token at a glance.
pub const PREFIX: &str = "zk_";

/// How long a verified key's record is trusted before it is read again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// How long a revocation stays on the deny-list: far longer than any
/// projection lag, after which the record itself says it is revoked.
const DENY_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a key newer than the `projects` projection waits for it.
const PROJECTION_WAIT: Duration = Duration::from_secs(2);

/// The most records cached per process.
const CACHE_CAPACITY: usize = 10_000;

/// A newly issued key: the text to show once, and what to keep.
pub struct IssuedKey {
    /// The key's id.
    pub key_id: Uuid,
    /// The whole key, for the one answer that shows it.
    pub key: String,
    /// The digest of its secret, to store.
    pub secret_digest: String,
}

/// Issues a key with a fresh id and secret.
///
/// # Errors
/// When the operating system's random source fails.
pub fn issue() -> Result<IssuedKey, getrandom::Error> {
    let key_id = Uuid::now_v7();
    let secret = secret_token::generate()?;
    Ok(IssuedKey {
        key_id,
        key: format!("{PREFIX}{}_{secret}", key_id.simple()),
        secret_digest: secret_token::digest(&secret),
    })
}

/// Splits a key into its id and secret; `None` when it is not shaped like one.
pub fn parse(key: &str) -> Option<(Uuid, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 32 || secret.len() != 64 {
        return None;
    }
    Some((Uuid::try_parse(id).ok()?, secret))
}

/// What a verified key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    /// The key.
    pub key_id: Uuid,
    /// The only project it acts in.
    pub project_id: Uuid,
    /// What it may do there.
    pub scopes: Vec<Scope>,
    /// The only agent it acts for, when bound.
    pub agent_id: Option<Uuid>,
    /// Who issued it: its writes are decided with that member's role.
    pub created_by: Uuid,
}

impl KeyGrant {
    /// Whether the key holds `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyRefusal {
    /// Not a key this server issued, or its secret does not match.
    #[error("the API key is invalid")]
    Invalid,
    /// It was revoked.
    #[error("the API key has been revoked")]
    Revoked,
    /// Its record or the deny-list cannot be read now.
    #[error("cannot check the API key right now: {0}")]
    Unavailable(String),
}

struct Cached {
    grant: KeyGrant,
    secret_digest: String,
    revoked: bool,
    read_at: Instant,
}

/// Verifies keys and remembers their use; one per process.
pub struct ApiKeys {
    pool: ReadPool,
    store: Ephemeral,
    cache: Mutex<HashMap<Uuid, Cached>>,
    used: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

fn deny_key(key_id: Uuid) -> String {
    format!("revoked:apikey:{key_id}")
}

impl ApiKeys {
    /// Keys read from `pool`, revoked through `store`.
    pub fn new(pool: ReadPool, store: Ephemeral) -> Self {
        Self {
            pool,
            store,
            cache: Mutex::new(HashMap::new()),
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Checks `key` and answers what it may do.
    ///
    /// # Errors
    /// [`KeyRefusal::Invalid`] for a key that is malformed, unknown or has
    /// another secret; [`KeyRefusal::Revoked`]; [`KeyRefusal::Unavailable`]
    /// when the database or the deny-list cannot be read.
    pub async fn verify(&self, key: &str) -> Result<KeyGrant, KeyRefusal> {
        let (key_id, secret) = parse(key).ok_or(KeyRefusal::Invalid)?;
        let (grant, digest, revoked) = match self.cached(key_id) {
            Some(hit) => hit,
            None => self.read(key_id).await?,
        };
        let presented = secret_token::digest(secret);
        if orion::util::secure_cmp(presented.as_bytes(), digest.as_bytes()).is_err() {
            return Err(KeyRefusal::Invalid);
        }
        if revoked {
            return Err(KeyRefusal::Revoked);
        }
        let denied = self
            .store
            .get_many(&[deny_key(key_id)])
            .await
            .map_err(|e| KeyRefusal::Unavailable(e.to_string()))?;
        if denied.first().copied().flatten().is_some() {
            self.forget(key_id);
            return Err(KeyRefusal::Revoked);
        }
        if let Ok(mut used) = self.used.lock() {
            used.insert(key_id, Utc::now());
        }
        Ok(grant)
    }

    /// Puts `key_id` on the deny-list (every process refuses it from now on)
    /// and drops it from this process's cache.
    ///
    /// # Errors
    /// When the deny-list cannot be written.
    pub async fn revoke(&self, key_id: Uuid) -> Result<(), Unavailable> {
        self.store.set(&deny_key(key_id), 1, DENY_FOR).await?;
        self.forget(key_id);
        Ok(())
    }

    /// Writes when each key used since the last call was last used.
    ///
    /// # Errors
    /// When the database cannot be written (the times are kept for the next call).
    pub async fn flush_usage(&self) -> Result<(), KeyRefusal> {
        let used: HashMap<Uuid, DateTime<Utc>> = match self.used.lock() {
            Ok(mut used) => std::mem::take(&mut *used),
            Err(_) => return Ok(()),
        };
        if used.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = used.iter().map(|(k, t)| (*k, *t)).unzip();
        let outcome = async {
            let client = self.pool.get().await.map_err(|e| e.to_string())?;
            client
                .execute_cached(
                    "INSERT INTO api_key_usage (key_id, last_used_at)
                     SELECT * FROM unnest($1::uuid[], $2::timestamptz[])
                     ON CONFLICT (key_id) DO UPDATE
                        SET last_used_at = greatest(api_key_usage.last_used_at, excluded.last_used_at)",
                    &[&ids, &times],
                )
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(error) = outcome {
            if let Ok(mut pending) = self.used.lock() {
                for (key, at) in used {
                    let entry = pending.entry(key).or_insert(at);
                    *entry = (*entry).max(at);
                }
            }
            return Err(KeyRefusal::Unavailable(error));
        }
        Ok(())
    }

    fn cached(&self, key_id: Uuid) -> Option<(KeyGrant, String, bool)> {
        let cache = self.cache.lock().ok()?;
        let hit = cache.get(&key_id)?;
        (hit.read_at.elapsed() < CACHE_TTL)
            .then(|| (hit.grant.clone(), hit.secret_digest.clone(), hit.revoked))
    }

    fn forget(&self, key_id: Uuid) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&key_id);
        }
    }

    /// Reads the key's record, waiting for the projection once when it is missing.
    async fn read(&self, key_id: Uuid) -> Result<(KeyGrant, String, bool), KeyRefusal> {
        let unavailable = |e: &dyn std::fmt::Display| KeyRefusal::Unavailable(e.to_string());
        let mut record = self.lookup(key_id).await?;
        // Only a key made a moment ago can be missing from the read model
        // for want of projection: key ids are UUIDv7, which say when. Any
        // other unknown id is refused at once, with no wait to abuse.
        if record.is_none() && made_recently(key_id) {
            let client = self.pool.get().await.map_err(|e| unavailable(&e))?;
            let head = positions::head(&client).await.map_err(|e| unavailable(&e))?;
            drop(client);
            if head != Position::START {
                let token = ConsistencyToken(head);
                // Past the wait, the key is unknown: it is refused below.
                if consistency::poll_until_applied(&self.pool, &["projects"], token, PROJECTION_WAIT)
                    .await
                    .is_ok()
                {
                    record = self.lookup(key_id).await?;
                }
            }
        }
        let (grant, digest, revoked) = record.ok_or(KeyRefusal::Invalid)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(
                key_id,
                Cached {
                    grant: grant.clone(),
                    secret_digest: digest.clone(),
                    revoked,
                    read_at: Instant::now(),
                },
            );
        }
        Ok((grant, digest, revoked))
    }

    async fn lookup(&self, key_id: Uuid) -> Result<Option<(KeyGrant, String, bool)>, KeyRefusal> {
        let unavailable = |e: &dyn std::fmt::Display| KeyRefusal::Unavailable(e.to_string());
        let client = self.pool.get().await.map_err(|e| unavailable(&e))?;
        let row = client
            .query_opt_cached(
                "SELECT project_id, scopes, agent_id, created_by, secret_digest, revoked_at IS NOT NULL
                   FROM rm_api_keys WHERE key_id = $1",
                &[&key_id],
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let scopes: Vec<String> = row.try_get(1).map_err(|e| unavailable(&e))?;
        let grant = KeyGrant {
            key_id,
            project_id: row.try_get(0).map_err(|e| unavailable(&e))?,
            scopes: scopes.iter().filter_map(|s| s.parse().ok()).collect(),
            agent_id: row.try_get(2).map_err(|e| unavailable(&e))?,
            created_by: row.try_get(3).map_err(|e| unavailable(&e))?,
        };
        Ok(Some((
            grant,
            row.try_get(4).map_err(|e| unavailable(&e))?,
            row.try_get(5).map_err(|e| unavailable(&e))?,
        )))
    }
}

/// How often the last use of API keys is written.
const KEY_USE_EVERY: Duration = Duration::from_secs(5);

/// Writes when `keys` were last used every few seconds and once more at
/// shutdown (a task of every service that verifies keys).
pub async fn write_use_until(keys: std::sync::Arc<ApiKeys>, mut shutdown: crate::shutdown::Shutdown) {
    loop {
        let stop = tokio::select! {
            () = tokio::time::sleep(KEY_USE_EVERY) => false,
            () = shutdown.wait() => true,
        };
        if let Err(error) = keys.flush_usage().await {
            tracing::warn!(%error, "cannot write when API keys were last used; kept for the next try");
        }
        if stop {
            return;
        }
    }
}

/// Whether `key_id`, a UUIDv7, was made in the last minute (by its own
/// timestamp; a few seconds of clock skew between processes allowed).
fn made_recently(key_id: Uuid) -> bool {
    let Some((seconds, nanos)) = key_id.get_timestamp().map(|t| t.to_unix()) else {
        return false;
    };
    let made = std::time::UNIX_EPOCH + Duration::new(seconds, nanos);
    let now = std::time::SystemTime::now();
    match now.duration_since(made) {
        Ok(age) => age < Duration::from_secs(60),
        Err(ahead) => ahead.duration() < Duration::from_secs(5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_parses_back_to_its_id_and_a_secret_matching_its_digest() {
        let issued = issue().expect("random");
        let (id, secret) = parse(&issued.key).expect("parses");
        assert_eq!(id, issued.key_id);
        assert_eq!(secret_token::digest(secret), issued.secret_digest);
    }

    #[test]
    fn text_that_is_not_a_key_does_not_parse() {
        let issued = issue().expect("random");
        assert!(parse(&issued.key[1..]).is_none());
        assert!(parse(&format!("{}x", issued.key)).is_none());
        assert!(parse("zk_nothex_nothex").is_none());
        assert!(parse("v4.public.abc").is_none());
    }

    #[test]
    fn only_a_key_id_made_in_the_last_minute_counts_as_recent() {
        assert!(made_recently(Uuid::now_v7()));
        let old = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 1_700_000_000, 0));
        assert!(!made_recently(old));
        assert!(!made_recently(Uuid::new_v4()), "no timestamp, not recent");
    }
}
