//! Where the token keys come from, and how they rotate without downtime.
//!
//! Either the environment names them (`ZEKKA_SIGNING_KEY`,
//! `ZEKKA_PUBLIC_KEY`; rotating them is a rolling restart, see
//! docs/operations.md), or they are kept in the `signing_keys` table. Kept
//! keys rotate with `zekka keys rotate`, which needs no restart:
//!
//! 1. it stores a new key that starts signing `publish_after` later (45 s);
//! 2. every process re-reads the keys every `SIGNING_KEY_REFRESH_SECONDS`
//!    (15 s), so every verifier trusts the new key before any signer uses it;
//! 3. at the activation time every signer switches (a signer picks, per
//!    token, the newest key already active) and the old keys retire: tokens
//!    they issued stay valid until they expire, tokens they would sign later
//!    are refused ([`tokens::CLOCK_GRACE`] allows for clocks that disagree);
//! 4. the next rotation erases the secrets of retired keys. Public keys are
//!    kept: they verify the audit checkpoints their keys signed.
//!
//! With `--revoke-previous` the old keys are also revoked at the activation
//! time: from then on they vouch for no access token (people refresh and get
//! one from the new key), for a key that may have leaked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::config::Config;
use crate::shutdown::Shutdown;
use crate::tokens::{self, SigningKey, TokenSigner, TokenVerifier, VerifyingKey};

/// How long a rotated-in key waits before it signs by default: three
/// refreshes at the default interval, so every process has read it.
pub const PUBLISH_AFTER: Duration = Duration::from_secs(45);

/// Serialises key generation and rotation between processes.
const KEYS_LOCK: i64 = 7_402_012;

/// One row of `signing_keys`, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredKey {
    /// The PASERK id (`k4.pid.…`) tokens name in their footer.
    pub key_id: String,
    /// The PASERK public key.
    pub public_key: String,
    /// When it was generated.
    pub created_at: DateTime<Utc>,
    /// When it signs from.
    pub activates_at: DateTime<Utc>,
    /// When a newer key took over.
    pub retired_at: Option<DateTime<Utc>>,
    /// When it stopped vouching for access tokens.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether its secret is still kept (erased after retirement).
    pub has_secret: bool,
}

impl StoredKey {
    /// What the key does at `now`, for people: `signing`, `next`,
    /// `retired` or `revoked`.
    pub fn state(&self, signing: Option<&str>, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some_and(|revoked| revoked <= now) {
            "revoked"
        } else if signing == Some(self.key_id.as_str()) {
            "signing"
        } else if self.activates_at > now {
            "next"
        } else {
            "retired"
        }
    }
}

/// The keys of one process: what it signs with (command-api) and what it
/// trusts, and where they are re-read from when they are kept in the
/// database.
pub struct Keyring {
    signer: Option<TokenSigner>,
    verifier: Arc<TokenVerifier>,
    /// Set when either side comes from the database (and so may rotate).
    stored: Option<StoredSides>,
}

/// Which sides of a [`Keyring`] follow the database, and what it last read.
struct StoredSides {
    pool: PgPool,
    signer: bool,
    verifier: bool,
    last_read: Mutex<Vec<StoredKey>>,
}

impl Keyring {
    /// The keys as `config` says: from the environment, or else from the
    /// database (generated and stored on first start). `signs`: whether
    /// this process issues tokens (then it reads the secrets too).
    ///
    /// # Errors
    /// When a configured key is invalid or the database cannot be used.
    pub async fn load(config: &Config, pool: &PgPool, signs: bool) -> Result<Self> {
        let signer_stored = signs && config.signing_key.is_none();
        let verifier_stored = config.signing_key.is_none() && config.public_key.is_none();
        if signer_stored || verifier_stored {
            let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM signing_keys)")
                .fetch_one(pool)
                .await
                .context("failed to read the token keys")?;
            if signer_stored || !any {
                ensure_stored_key(pool).await?;
            }
        }
        let stored = stored_keys(pool, signer_stored).await?;
        let signer = match (&config.signing_key, signs) {
            (_, false) => None,
            (Some(secret), true) => {
                Some(TokenSigner::from_paserk(secret.expose()).context("ZEKKA_SIGNING_KEY")?)
            }
            (None, true) => Some(TokenSigner::from_keys(signing_keys(&stored.secrets)?)?),
        };
        let verifier = if verifier_stored {
            TokenVerifier::from_keys(verifying_keys(&stored.keys)?)
        } else {
            environment_verifier(config)?
        };
        Ok(Self {
            signer,
            verifier: Arc::new(verifier),
            stored: (signer_stored || verifier_stored).then(|| StoredSides {
                pool: pool.clone(),
                signer: signer_stored,
                verifier: verifier_stored,
                last_read: Mutex::new(stored.keys),
            }),
        })
    }

    /// The signer, when this process signs.
    pub fn signer(&self) -> Option<&TokenSigner> {
        self.signer.as_ref()
    }

    /// The verifier every route shares.
    pub fn verifier(&self) -> Arc<TokenVerifier> {
        self.verifier.clone()
    }

    /// Whether the keys come from the database and so should be re-read.
    pub fn follows_database(&self) -> bool {
        self.stored.is_some()
    }

    /// Re-reads the stored keys and hands any change to the signer and the
    /// verifier. Returns whether something changed.
    ///
    /// # Errors
    /// When the database cannot be read or a stored key is invalid; the
    /// keys held stay as they were.
    pub async fn refresh(&self) -> Result<bool> {
        let Some(sides) = &self.stored else {
            return Ok(false);
        };
        let stored = stored_keys(&sides.pool, sides.signer).await?;
        let changed = match sides.last_read.lock() {
            Ok(last) => *last != stored.keys,
            Err(_) => true,
        };
        if !changed {
            return Ok(false);
        }
        if sides.signer
            && let Some(signer) = &self.signer
        {
            signer.replace(signing_keys(&stored.secrets)?)?;
        }
        if sides.verifier {
            self.verifier.replace(verifying_keys(&stored.keys)?);
        }
        tracing::info!(
            keys = stored.keys.len(),
            newest = stored.keys.last().map(|key| key.key_id.as_str()),
            "the token keys changed"
        );
        if let Ok(mut last) = sides.last_read.lock() {
            *last = stored.keys;
        }
        Ok(true)
    }

    /// Re-reads the keys every `every` until `shutdown` (only when they
    /// come from the database).
    pub async fn keep_fresh(self: Arc<Self>, every: Duration, mut shutdown: Shutdown) {
        if !self.follows_database() {
            return;
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.wait() => return,
            }
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "cannot re-read the token keys; keeping the ones held");
            }
        }
    }
}

/// A signer as `config` says (for one-off work such as `zekka audit
/// checkpoint`).
///
/// # Errors
/// As [`Keyring::load`].
pub async fn load_signer(config: &Config, pool: &PgPool) -> Result<TokenSigner> {
    Keyring::load(config, pool, true)
        .await?
        .signer
        .context("a signing keyring holds a signer")
}

/// A verifier as `config` says, for a process that does not sign.
///
/// # Errors
/// As [`Keyring::load`].
pub async fn load_verifier(config: &Config, pool: &PgPool) -> Result<TokenVerifier> {
    Ok((*Keyring::load(config, pool, false).await?.verifier).clone())
}

/// What `zekka keys rotate` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    /// The new key.
    pub key_id: String,
    /// When it starts signing, and the keys it replaces retire.
    pub activates_at: DateTime<Utc>,
    /// The keys retired by this rotation.
    pub retired: Vec<String>,
    /// The keys revoked at `activates_at` (with `--revoke-previous`).
    pub revoked: Vec<String>,
    /// The keys whose secret was erased (retired by an earlier rotation).
    pub erased: Vec<String>,
}

/// Stores a new signing key that starts signing `publish_after` from now
/// (at once when it is the first), retires the keys it replaces then (and revokes every other key then when
/// `revoke_previous`), and erases the secrets of keys already retired.
///
/// # Errors
/// When the database cannot be written.
pub async fn rotate(pool: &PgPool, publish_after: Duration, revoke_previous: bool) -> Result<Rotation> {
    let (secret, public) = tokens::generate_key_pair()?;
    let (key_id, _) = VerifyingKey::from_paserk(&public, None, None)?;
    let mut tx = locked(pool).await?;
    // With no key to take over from, nothing needs to learn the new key
    // ahead of time.
    let first: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM signing_keys)")
        .fetch_one(&mut *tx)
        .await
        .context("failed to read the signing keys")?;
    let publish_after = if first { Duration::ZERO } else { publish_after };
    let erased: Vec<String> = sqlx::query_scalar(
        "UPDATE signing_keys SET secret_key = NULL
          WHERE secret_key IS NOT NULL AND retired_at <= now()
      RETURNING key_id",
    )
    .fetch_all(&mut *tx)
    .await
    .context("failed to erase retired secrets")?;
    let activates_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO signing_keys (key_id, secret_key, public_key, activates_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))
      RETURNING activates_at",
    )
    .bind(&key_id)
    .bind(&secret)
    .bind(&public)
    .bind(publish_after.as_secs_f64())
    .fetch_one(&mut *tx)
    .await
    .context("failed to store the new key")?;
    let retired: Vec<String> = sqlx::query_scalar(
        "UPDATE signing_keys SET retired_at = $2
          WHERE key_id <> $1 AND retired_at IS NULL
      RETURNING key_id",
    )
    .bind(&key_id)
    .bind(activates_at)
    .fetch_all(&mut *tx)
    .await
    .context("failed to retire the old keys")?;
    let revoked: Vec<String> = if revoke_previous {
        sqlx::query_scalar(
            "UPDATE signing_keys SET revoked_at = $2
              WHERE key_id <> $1 AND (revoked_at IS NULL OR revoked_at > $2)
          RETURNING key_id",
        )
        .bind(&key_id)
        .bind(activates_at)
        .fetch_all(&mut *tx)
        .await
        .context("failed to revoke the old keys")?
    } else {
        Vec::new()
    };
    tx.commit().await.context("failed to store the new key")?;
    Ok(Rotation {
        key_id,
        activates_at,
        retired,
        revoked,
        erased,
    })
}

/// Every stored key, oldest first, without secrets.
///
/// # Errors
/// When the database cannot be read.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredKey>> {
    Ok(stored_keys(pool, false).await?.keys)
}

/// The id of the key a signer over the stored keys uses at `now`.
pub fn signing_at(keys: &[StoredKey], now: DateTime<Utc>) -> Option<&str> {
    keys.iter()
        .filter(|key| key.has_secret && key.revoked_at.is_none_or(|revoked| revoked > now))
        .filter(|key| key.activates_at <= now)
        .max_by_key(|key| key.activates_at)
        .map(|key| key.key_id.as_str())
}

/// What one read of `signing_keys` gave.
struct Stored {
    keys: Vec<StoredKey>,
    /// The keys that may sign, with their secrets (read only by signers).
    secrets: Vec<(StoredKey, String)>,
}

/// Reads the stored keys; the secrets only when `secrets` (command-api).
async fn stored_keys(pool: &PgPool, secrets: bool) -> Result<Stored> {
    type Row = (
        String,
        String,
        DateTime<Utc>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        bool,
        Option<String>,
    );
    // One read; the secret column only when asked (verifiers never read it).
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT key_id, public_key, created_at, activates_at, retired_at, revoked_at,
                secret_key IS NOT NULL,
                CASE WHEN $1 AND (revoked_at IS NULL OR revoked_at > now()) THEN secret_key END
           FROM signing_keys ORDER BY activates_at, key_id",
    )
    .bind(secrets)
    .fetch_all(pool)
    .await
    .context("failed to read the token keys")?;
    let mut stored = Stored {
        keys: Vec::with_capacity(rows.len()),
        secrets: Vec::new(),
    };
    for (key_id, public_key, created_at, activates_at, retired_at, revoked_at, has_secret, secret) in rows {
        let key = StoredKey {
            key_id,
            public_key,
            created_at,
            activates_at,
            retired_at,
            revoked_at,
            has_secret,
        };
        if let Some(secret) = secret {
            stored.secrets.push((key.clone(), secret));
        }
        stored.keys.push(key);
    }
    Ok(stored)
}

fn signing_keys(secrets: &[(StoredKey, String)]) -> Result<Vec<SigningKey>> {
    secrets
        .iter()
        .map(|(key, secret)| SigningKey::from_paserk(secret, key.activates_at))
        .collect()
}

fn verifying_keys(keys: &[StoredKey]) -> Result<HashMap<String, VerifyingKey>> {
    keys.iter()
        .map(|key| VerifyingKey::from_paserk(&key.public_key, key.retired_at, key.revoked_at))
        .collect()
}

/// The verifier from the environment: `ZEKKA_PUBLIC_KEY` (one or more
/// keys, comma-separated) and the public half of `ZEKKA_SIGNING_KEY`.
fn environment_verifier(config: &Config) -> Result<TokenVerifier> {
    let mut keys = HashMap::new();
    if let Some(public) = &config.public_key {
        for text in public.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (id, key) = VerifyingKey::from_paserk(text, None, None).context("ZEKKA_PUBLIC_KEY")?;
            keys.insert(id, key);
        }
    }
    if let Some(secret) = &config.signing_key {
        let signer = TokenSigner::from_paserk(secret.expose()).context("ZEKKA_SIGNING_KEY")?;
        keys.extend(signer.verifying_keys()?);
    }
    if keys.is_empty() {
        anyhow::bail!("ZEKKA_PUBLIC_KEY names no key");
    }
    Ok(TokenVerifier::from_keys(keys))
}

/// A transaction holding the lock that serialises key generation and
/// rotation between processes.
async fn locked(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await.context("failed to begin")?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(KEYS_LOCK)
        .execute(&mut *tx)
        .await
        .context("failed to lock the signing keys")?;
    Ok(tx)
}

/// Makes sure a key that may sign is stored, generating one when there is
/// none. Processes starting together agree on one key: the check and the
/// insert run under a transaction-scoped advisory lock.
async fn ensure_stored_key(pool: &PgPool) -> Result<()> {
    let mut tx = locked(pool).await?;
    let usable: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM signing_keys
                         WHERE secret_key IS NOT NULL AND (revoked_at IS NULL OR revoked_at > now()))",
    )
    .fetch_one(&mut *tx)
    .await
    .context("failed to read the signing keys")?;
    if usable {
        return Ok(());
    }
    tracing::warn!(
        "no ZEKKA_SIGNING_KEY configured: generated a token signing key and kept it in the \
         database. Configure ZEKKA_SIGNING_KEY (and ZEKKA_PUBLIC_KEY for query-api) in production"
    );
    let (secret, public) = tokens::generate_key_pair()?;
    let (key_id, _) = VerifyingKey::from_paserk(&public, None, None)?;
    sqlx::query("INSERT INTO signing_keys (key_id, secret_key, public_key) VALUES ($1, $2, $3)")
        .bind(&key_id)
        .bind(&secret)
        .bind(&public)
        .execute(&mut *tx)
        .await
        .context("failed to store the signing key")?;
    // Keys that could no longer sign are retired by the one that replaces them.
    sqlx::query("UPDATE signing_keys SET retired_at = now() WHERE key_id <> $1 AND retired_at IS NULL")
        .bind(&key_id)
        .execute(&mut *tx)
        .await
        .context("failed to retire the old keys")?;
    tx.commit().await.context("failed to store the signing key")?;
    Ok(())
}
