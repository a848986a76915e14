//! Data keys: wrapped under the master key in `personal_data_keys`, cached
//! briefly for sealing, never for opening; and the master key kept in the
//! database when none is configured.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::{Context, anyhow};
use deadpool_postgres::GenericClient;
use pasetors::keys::{Generate, SymmetricKey};
use pasetors::paserk::FormatAsPaserk;
use pasetors::version4::V4;
use uuid::Uuid;

use super::cipher::{decrypt, encrypt, random};
use super::{CACHE_TTL, Cached, PersonalData, PersonalDataError};
use crate::database::{CachedQueries, ReadPool};

impl PersonalData {
    pub(super) fn cached(&self, subject: Uuid) -> Option<Option<[u8; 32]>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(&subject)
            .filter(|c| c.at.elapsed() < CACHE_TTL)
            .map(|c| c.key)
    }

    pub(super) fn remember(&self, subject: Uuid, key: Option<[u8; 32]>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 100_000 {
                cache.retain(|_, c| c.at.elapsed() < CACHE_TTL);
            }
            cache.insert(
                subject,
                Cached {
                    key,
                    at: Instant::now(),
                },
            );
        }
    }

    pub(super) fn unwrap_key(&self, wrapped: &[u8], subject: Uuid) -> Option<[u8; 32]> {
        decrypt(&self.master, wrapped, subject.as_bytes())?
            .try_into()
            .ok()
    }

    /// The data key of `subject`, made on first use.
    pub(super) async fn key_for_sealing(&self, subject: Uuid) -> Result<[u8; 32], PersonalDataError> {
        if let Some(Some(key)) = self.cached(subject) {
            return Ok(key);
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Serialised with `erase` for this subject: no key is made for a
        // person being erased.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 7))",
            &[&subject],
        )
        .await?;
        let erased = tx
            .query_opt(
                "SELECT 1 FROM personal_data_erasures WHERE subject = $1",
                &[&subject],
            )
            .await?;
        if erased.is_some() {
            return Err(PersonalDataError::Erased(subject));
        }
        let existing = tx
            .query_opt(
                "SELECT wrapped_key FROM personal_data_keys WHERE subject = $1",
                &[&subject],
            )
            .await?;
        let key = match existing {
            Some(row) => {
                let wrapped: Vec<u8> = row.try_get(0)?;
                self.unwrap_key(&wrapped, subject)
                    .ok_or(PersonalDataError::Crypto)?
            }
            None => {
                let key = random::<32>()?;
                let wrapped = encrypt(&self.master, &key, subject.as_bytes())?;
                tx.execute(
                    "INSERT INTO personal_data_keys (subject, wrapped_key) VALUES ($1, $2)",
                    &[&subject, &wrapped],
                )
                .await?;
                key
            }
        };
        tx.commit().await?;
        self.remember(subject, Some(key));
        Ok(key)
    }

    /// The data keys of `subjects` that still exist (erased people have
    /// none), read through `client` (or a pool connection). Never from the
    /// cache: an erasure in another process must show at once.
    pub(super) async fn keys_for_opening(
        &self,
        client: Option<&impl GenericClient>,
        subjects: &HashSet<Uuid>,
    ) -> Result<HashMap<Uuid, [u8; 32]>, PersonalDataError> {
        let wanted: Vec<Uuid> = subjects.iter().copied().collect();
        let sql = "SELECT subject, wrapped_key FROM personal_data_keys WHERE subject = ANY($1)";
        let rows = match client {
            Some(client) => client.query_cached(sql, &[&wanted]).await?,
            None => self.pool.get().await?.query_cached(sql, &[&wanted]).await?,
        };
        let mut keys = HashMap::new();
        for row in rows {
            let subject: Uuid = row.try_get(0)?;
            let wrapped: Vec<u8> = row.try_get(1)?;
            if let Some(key) = self.unwrap_key(&wrapped, subject) {
                keys.insert(subject, key);
            }
        }
        Ok(keys)
    }
}

/// The stored master key, generated when there is none (under an advisory
/// lock, so processes starting together agree on one).
pub(super) async fn ensure_stored_master_key(pool: &ReadPool) -> anyhow::Result<String> {
    let mut client = pool
        .get()
        .await
        .context("no database connection for the master key")?;
    let tx = client.transaction().await.context("failed to begin")?;
    tx.execute("SELECT pg_advisory_xact_lock(7402013)", &[])
        .await
        .context("failed to lock the master key")?;
    let existing = tx
        .query_opt("SELECT paserk FROM master_keys ORDER BY created_at LIMIT 1", &[])
        .await
        .context("failed to read the master key")?;
    if let Some(row) = existing {
        return row.try_get(0).context("failed to read the master key");
    }
    tracing::warn!(
        "no ZEKKA_MASTER_KEY configured: generated the master key of personal data and kept it in the \
         database. Configure ZEKKA_MASTER_KEY in production, so a copy of the database alone does not \
         reveal personal data"
    );
    let key = SymmetricKey::<V4>::generate().map_err(|e| anyhow!("failed to generate a key: {e}"))?;
    let mut paserk = String::new();
    key.fmt(&mut paserk)
        .map_err(|e| anyhow!("failed to format the key: {e}"))?;
    tx.execute("INSERT INTO master_keys (paserk) VALUES ($1)", &[&paserk])
        .await
        .context("failed to store the master key")?;
    tx.commit().await.context("failed to store the master key")?;
    Ok(paserk)
}
