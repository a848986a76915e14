//! Crypto-shredding: personal data in events is stored encrypted with a key
//! of the person it belongs to, so erasing a person is deleting one key.
//!
//! - Each person (subject) has a 32-byte data key, kept in
//!   `personal_data_keys` wrapped (XChaCha20-Poly1305) under the master key
//!   (`ZEKKA_MASTER_KEY`, or one generated and kept in the database).
//! - A sealed field is the string `zk:s1:<subject>:<base64url(nonce‖ciphertext‖tag)>`,
//!   XChaCha20-Poly1305 with the subject and the field's name as associated
//!   data, so a sealed value cannot be moved to another field or person.
//! - [`SEALED_FIELDS`] names which fields of which events are sealed and
//!   whose they are. Everything else stays readable.
//! - Erasing deletes the key and leaves a tombstone: sealed values of that
//!   person then read as [`ERASED`], and nothing new can be sealed for them.
//!   The events themselves never change, so the hash chains still verify.
//! - Emails are looked up through a blind index (HMAC-SHA256 under a key
//!   derived from the master key), never through the plaintext.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deadpool_postgres::GenericClient;

use crate::database::CachedQueries;
use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
use orion::hazardous::mac::hmac::sha256::{HmacSha256, SecretKey as HmacKey};
use pasetors::keys::{Generate, SymmetricKey};
use pasetors::paserk::FormatAsPaserk;
use pasetors::version4::V4;
use serde_json::Value;
use uuid::Uuid;

use crate::config::Config;
use crate::database::ReadPool;
use crate::event_log::StoredEvent;

/// What an erased person's sealed values read as, everywhere.
pub const ERASED: &str = "[erased]";

/// The prefix of every sealed value (format version 1).
const PREFIX: &str = "zk:s1:";

/// How long an unwrapped key is kept in memory for sealing (writes of the
/// same person in a row). Opening never uses the cache, so an erasure shows
/// everywhere at once; a process that seals with a key erased meanwhile
/// writes something nobody can ever read, and the erased person's tokens are
/// revoked at once anyway.
const CACHE_TTL: Duration = Duration::from_secs(30);

/// Whose a sealed field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The stream's own id (a User stream is about that user).
    AggregateId,
    /// A field of the same event naming the person.
    Field(&'static str),
}

/// One sealed field of one event type.
#[derive(Debug, Clone, Copy)]
pub struct SealedField {
    /// The stream type.
    pub aggregate_type: &'static str,
    /// The event type.
    pub event_type: &'static str,
    /// The field of the event (a string).
    pub field: &'static str,
    /// Whose it is.
    pub subject: Subject,
}

/// Every personal field of every event: a person's email and name, and what
/// they write in conversations. Project names, agents' output and conflict
/// texts are work records of the project, not personal data (docs/audit.md).
pub const SEALED_FIELDS: &[SealedField] = &[
    SealedField {
        aggregate_type: "User",
        event_type: "UserRegistered",
        field: "email",
        subject: Subject::AggregateId,
    },
    SealedField {
        aggregate_type: "User",
        event_type: "UserRegistered",
        field: "display_name",
        subject: Subject::AggregateId,
    },
    SealedField {
        aggregate_type: "Conversation",
        event_type: "ConversationStarted",
        field: "title",
        subject: Subject::Field("started_by"),
    },
    SealedField {
        aggregate_type: "Conversation",
        event_type: "MessageSent",
        field: "content",
        subject: Subject::Field("author_id"),
    },
    SealedField {
        aggregate_type: "Conversation",
        event_type: "MessageEdited",
        field: "content",
        subject: Subject::Field("edited_by"),
    },
];

/// The field `UserRegistered` gains at rest: the email's blind index.
pub const EMAIL_INDEX_FIELD: &str = "email_index";

fn sealed_fields(aggregate_type: &str, event_type: &str) -> impl Iterator<Item = &'static SealedField> {
    SEALED_FIELDS
        .iter()
        .filter(move |f| f.aggregate_type == aggregate_type && f.event_type == event_type)
}

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum PersonalDataError {
    /// The key store could not be used.
    #[error("the personal-data key store failed: {0}")]
    Database(String),
    /// The person was erased: nothing new is sealed for them.
    #[error("person {0} was erased")]
    Erased(Uuid),
    /// A sealed field names no person, or the event is not shaped as expected.
    #[error("cannot seal {0}: {1}")]
    Shape(&'static str, String),
    /// Encryption failed (it does not with valid keys).
    #[error("encryption failed")]
    Crypto,
}

impl From<tokio_postgres::Error> for PersonalDataError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database(error.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for PersonalDataError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Database(error.to_string())
    }
}

/// A person's data key, or the knowledge that there is none.
#[derive(Clone)]
struct Cached {
    key: Option<[u8; 32]>,
    at: Instant,
}

/// Seals and opens personal data, and erases people.
pub struct PersonalData {
    pool: ReadPool,
    master: [u8; 32],
    email_index_key: [u8; 32],
    cache: Mutex<HashMap<Uuid, Cached>>,
}

impl std::fmt::Debug for PersonalData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonalData(***)")
    }
}

fn aead_key(bytes: &[u8; 32]) -> Result<SecretKey, PersonalDataError> {
    SecretKey::try_from(&bytes[..]).map_err(|_| PersonalDataError::Crypto)
}

fn random<const N: usize>() -> Result<[u8; N], PersonalDataError> {
    let mut bytes = [0_u8; N];
    getrandom::getrandom(&mut bytes).map_err(|_| PersonalDataError::Crypto)?;
    Ok(bytes)
}

/// nonce ‖ ciphertext ‖ tag of `plaintext` under `key`, bound to `ad`.
fn encrypt(key: &[u8; 32], plaintext: &[u8], ad: &[u8]) -> Result<Vec<u8>, PersonalDataError> {
    let nonce_bytes = random::<24>()?;
    let nonce = Nonce::try_from(&nonce_bytes[..]).map_err(|_| PersonalDataError::Crypto)?;
    let mut sealed = vec![0_u8; plaintext.len() + 16];
    XChaCha20Poly1305::seal(&aead_key(key)?, &nonce, plaintext, Some(ad), &mut sealed)
        .map_err(|_| PersonalDataError::Crypto)?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The plaintext of [`encrypt`]'s output, or `None` when it does not open.
fn decrypt(key: &[u8; 32], sealed: &[u8], ad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 24 + 16 {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(24);
    let nonce = Nonce::try_from(nonce).ok()?;
    let mut plaintext = vec![0_u8; ciphertext.len() - 16];
    XChaCha20Poly1305::open(&aead_key(key).ok()?, &nonce, ciphertext, Some(ad), &mut plaintext).ok()?;
    Some(plaintext)
}

fn hmac(key: &[u8; 32], data: &[u8]) -> Result<[u8; 32], PersonalDataError> {
    let key = HmacKey::try_from(&key[..]).map_err(|_| PersonalDataError::Crypto)?;
    let tag = HmacSha256::hmac(&key, data).map_err(|_| PersonalDataError::Crypto)?;
    tag.unprotected_as_ref::<[u8]>()
        .try_into()
        .map_err(|_| PersonalDataError::Crypto)
}

fn associated_data(subject: Uuid, field: &str) -> Vec<u8> {
    let mut ad = subject.as_bytes().to_vec();
    ad.extend_from_slice(field.as_bytes());
    ad
}

/// The subject and ciphertext of a sealed value.
fn parse_sealed(value: &str) -> Option<(Uuid, Vec<u8>)> {
    let rest = value.strip_prefix(PREFIX)?;
    let (subject, body) = rest.split_once(':')?;
    Some((Uuid::parse_str(subject).ok()?, URL_SAFE_NO_PAD.decode(body).ok()?))
}

/// The inner object of an externally tagged payload (`{"Event": {…}}`).
fn inner_mut(payload: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    payload.as_object_mut()?.values_mut().next()?.as_object_mut()
}

impl PersonalData {
    /// Loads the master key (`ZEKKA_MASTER_KEY`, else the one kept in the
    /// database, generated on first start) and keeps `pool` for data keys.
    ///
    /// # Errors
    /// When the configured key is invalid or the database cannot be used.
    pub async fn load(config: &Config, pool: ReadPool) -> anyhow::Result<Self> {
        let paserk = match &config.master_key {
            Some(key) => key.expose().to_owned(),
            None => ensure_stored_master_key(&pool).await?,
        };
        let key = SymmetricKey::<V4>::try_from(paserk.as_str())
            .map_err(|_| anyhow!("ZEKKA_MASTER_KEY is not a PASERK k4.local key"))?;
        let master: [u8; 32] = key
            .as_bytes()
            .try_into()
            .map_err(|_| anyhow!("the master key is not 32 bytes"))?;
        let email_index_key = hmac(&master, b"zekka:email-index:v1").map_err(|e| anyhow!("{e}"))?;
        Ok(Self {
            pool,
            master,
            email_index_key,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The blind index of a normalised email: equal emails give equal
    /// indexes, and the index reveals nothing without the master key.
    pub fn email_index(&self, email: &str) -> String {
        hmac(&self.email_index_key, email.as_bytes())
            .map(hex::encode)
            .unwrap_or_default()
    }

    fn cached(&self, subject: Uuid) -> Option<Option<[u8; 32]>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(&subject)
            .filter(|c| c.at.elapsed() < CACHE_TTL)
            .map(|c| c.key)
    }

    fn remember(&self, subject: Uuid, key: Option<[u8; 32]>) {
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

    fn unwrap_key(&self, wrapped: &[u8], subject: Uuid) -> Option<[u8; 32]> {
        decrypt(&self.master, wrapped, subject.as_bytes())?
            .try_into()
            .ok()
    }

    /// The data key of `subject`, made on first use.
    async fn key_for_sealing(&self, subject: Uuid) -> Result<[u8; 32], PersonalDataError> {
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
    async fn keys_for_opening(
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

    /// Seals the personal fields of one event in place (and adds the email
    /// index to `UserRegistered`).
    ///
    /// # Errors
    /// When the person was erased, the key store fails, or a sealed field
    /// names no person.
    pub async fn seal(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        event_type: &str,
        payload: &mut Value,
    ) -> Result<(), PersonalDataError> {
        let fields: Vec<&SealedField> = sealed_fields(aggregate_type, event_type).collect();
        if fields.is_empty() {
            return Ok(());
        }
        let Some(inner) = inner_mut(payload) else {
            return Err(PersonalDataError::Shape(
                fields[0].event_type,
                "payload is not an object".into(),
            ));
        };
        for field in fields {
            let subject = match field.subject {
                Subject::AggregateId => Uuid::parse_str(aggregate_id).ok(),
                Subject::Field(name) => inner
                    .get(name)
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok()),
            }
            .ok_or_else(|| {
                PersonalDataError::Shape(field.event_type, format!("no person for `{}`", field.field))
            })?;
            let Some(plaintext) = inner.get(field.field).and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            if field.field == "email" && field.event_type == "UserRegistered" {
                inner.insert(
                    EMAIL_INDEX_FIELD.to_owned(),
                    Value::String(self.email_index(&plaintext)),
                );
            }
            let key = self.key_for_sealing(subject).await?;
            let sealed = encrypt(&key, plaintext.as_bytes(), &associated_data(subject, field.field))?;
            let text = format!("{PREFIX}{subject}:{}", URL_SAFE_NO_PAD.encode(sealed));
            inner.insert(field.field.to_owned(), Value::String(text));
        }
        Ok(())
    }

    /// Opens the sealed fields of many events at once (one key look-up for
    /// the batch, on a connection of the pool): plaintext where the person's
    /// key exists, [`ERASED`] where they were erased. Values stored before
    /// sealing existed are left as they are.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn open_all<'a>(
        &self,
        events: impl IntoIterator<Item = (&'a str, &'a str, &'a mut Value)>,
    ) -> Result<(), PersonalDataError> {
        self.open_all_with(None::<&deadpool_postgres::Client>, events)
            .await
    }

    /// [`PersonalData::open_all`] looking keys up through `client` (a
    /// projector's batch transaction, which must not wait for a second
    /// connection).
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn open_all_with<'a>(
        &self,
        client: Option<&impl GenericClient>,
        events: impl IntoIterator<Item = (&'a str, &'a str, &'a mut Value)>,
    ) -> Result<(), PersonalDataError> {
        let mut pending = Vec::new();
        let mut subjects = HashSet::new();
        for (aggregate_type, event_type, payload) in events {
            let fields: Vec<&'static str> = sealed_fields(aggregate_type, event_type)
                .map(|f| f.field)
                .collect();
            if fields.is_empty() {
                continue;
            }
            if let Some(inner) = inner_mut(payload) {
                for field in &fields {
                    if let Some((subject, _)) =
                        inner.get(*field).and_then(Value::as_str).and_then(parse_sealed)
                    {
                        subjects.insert(subject);
                    }
                }
                pending.push((inner, fields));
            }
        }
        if subjects.is_empty() {
            return Ok(());
        }
        let keys = self.keys_for_opening(client, &subjects).await?;
        for (inner, fields) in pending {
            for field in fields {
                let Some((subject, sealed)) = inner.get(field).and_then(Value::as_str).and_then(parse_sealed)
                else {
                    continue;
                };
                let plaintext = keys
                    .get(&subject)
                    .and_then(|key| decrypt(key, &sealed, &associated_data(subject, field)))
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                inner.insert(
                    field.to_owned(),
                    Value::String(plaintext.unwrap_or_else(|| ERASED.to_owned())),
                );
            }
        }
        Ok(())
    }

    /// [`PersonalData::open_all_with`] over stored events.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn open_events(
        &self,
        client: &impl GenericClient,
        events: &mut [StoredEvent],
    ) -> Result<(), PersonalDataError> {
        self.open_all_with(
            Some(client),
            events
                .iter_mut()
                .map(|e| (e.aggregate_type.as_str(), e.event_type.as_str(), &mut e.payload)),
        )
        .await
    }

    /// Erases `subject`: deletes their data key and leaves a tombstone, so
    /// their sealed values read as [`ERASED`] from now on and nothing new
    /// is sealed for them. Idempotent.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn erase(&self, subject: Uuid) -> Result<(), PersonalDataError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 7))",
            &[&subject],
        )
        .await?;
        tx.execute("DELETE FROM personal_data_keys WHERE subject = $1", &[&subject])
            .await?;
        tx.execute(
            "INSERT INTO personal_data_erasures (subject) VALUES ($1) ON CONFLICT (subject) DO NOTHING",
            &[&subject],
        )
        .await?;
        tx.commit().await?;
        self.remember(subject, None);
        Ok(())
    }

    /// Whether `subject` was erased.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn is_erased(&self, subject: Uuid) -> Result<bool, PersonalDataError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM personal_data_erasures WHERE subject = $1",
                &[&subject],
            )
            .await?
            .is_some())
    }
}

/// The stored master key, generated when there is none (under an advisory
/// lock, so processes starting together agree on one).
async fn ensure_stored_master_key(pool: &ReadPool) -> anyhow::Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_subject_and_field() {
        let key = [7_u8; 32];
        let subject = Uuid::now_v7();
        let ad = associated_data(subject, "content");
        let sealed = encrypt(&key, b"hello", &ad).expect("seal");
        assert_eq!(decrypt(&key, &sealed, &ad).as_deref(), Some(&b"hello"[..]));
        assert_eq!(decrypt(&[8_u8; 32], &sealed, &ad), None);
        assert_eq!(decrypt(&key, &sealed, &associated_data(subject, "title")), None);
        assert_eq!(
            decrypt(&key, &sealed, &associated_data(Uuid::now_v7(), "content")),
            None
        );
        // Two seals of the same text differ (random nonces).
        assert_ne!(encrypt(&key, b"hello", &ad).expect("seal"), sealed);
    }

    #[test]
    fn a_sealed_string_names_its_subject() {
        let subject = Uuid::now_v7();
        let text = format!("{PREFIX}{subject}:{}", URL_SAFE_NO_PAD.encode([1_u8, 2, 3]));
        assert_eq!(parse_sealed(&text), Some((subject, vec![1, 2, 3])));
        assert_eq!(parse_sealed("plain text"), None);
    }

    #[test]
    fn every_sealed_field_names_its_person() {
        for field in SEALED_FIELDS {
            assert!(!field.field.is_empty());
            if let Subject::Field(name) = field.subject {
                assert_ne!(name, field.field);
            }
        }
    }
}
