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

mod cipher;
mod fields;
mod keys;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use deadpool_postgres::GenericClient;
use pasetors::keys::SymmetricKey;
use pasetors::version4::V4;
use serde_json::Value;
use uuid::Uuid;

use crate::database::ReadPool;
use crate::event_log::StoredEvent;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// How every sealed value begins (what tells old plaintext from sealed text in SQL).
pub(crate) use cipher::PREFIX as SEALED_PREFIX;
use cipher::{PREFIX, associated_data, decrypt, encrypt, hmac, parse_sealed};
pub use fields::{
    EMAIL_INDEX_FIELD, SEALED_FIELDS, SEALED_METADATA, SealedField, Subject, has_sealed_fields,
};
use fields::{inner_mut, sealed_fields};

/// What an erased person's sealed values read as, everywhere.
pub const ERASED: &str = "[erased]";

/// How long an unwrapped key is kept in memory for sealing (writes of the
/// same person in a row). Opening never uses the cache, so an erasure shows
/// everywhere at once; a process that seals with a key erased meanwhile
/// writes something nobody can ever read, and the erased person's tokens are
/// revoked at once anyway.
const CACHE_TTL: Duration = Duration::from_secs(30);

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

impl PersonalData {
    /// Loads the master key (`master_key`: `ZEKKA_MASTER_KEY`, else the one kept in the
    /// database, generated on first start) and keeps `pool` for data keys.
    ///
    /// # Errors
    /// When the configured key is invalid or the database cannot be used.
    pub async fn load(master_key: Option<&str>, pool: ReadPool) -> anyhow::Result<Self> {
        let paserk = match master_key {
            Some(key) => key.to_owned(),
            None => keys::ensure_stored_master_key(&pool).await?,
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
        self.email_index_at(email, 0)
    }

    /// The blind index of `email` for its `generation`-th account: each
    /// erasure of an account moves the address to a fresh index, so it may
    /// register again while the erased account keeps its own (which says
    /// nothing without the master key).
    pub fn email_index_at(&self, email: &str, generation: u32) -> String {
        let input = if generation == 0 {
            email.to_owned()
        } else {
            format!("{email}\u{0}{generation}")
        };
        hmac(&self.email_index_key, input.as_bytes())
            .map(hex::encode)
            .unwrap_or_default()
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
                let generation = inner
                    .get("email_generation")
                    .and_then(Value::as_u64)
                    .and_then(|g| u32::try_from(g).ok())
                    .unwrap_or(0);
                inner.insert(
                    EMAIL_INDEX_FIELD.to_owned(),
                    Value::String(self.email_index_at(&plaintext, generation)),
                );
            }
            let key = self.key_for_sealing(subject).await?;
            let sealed = encrypt(&key, plaintext.as_bytes(), &associated_data(subject, field.field))?;
            let text = format!("{PREFIX}{subject}:{}", URL_SAFE_NO_PAD.encode(sealed));
            inner.insert(field.field.to_owned(), Value::String(text));
        }
        Ok(())
    }

    /// Seals the network details of one event's metadata in place
    /// ([`SEALED_METADATA`]: the address and user agent of the request)
    /// with the key of its `actor`, so erasing the person makes them
    /// unreadable like their other personal data. Metadata without an
    /// actor (a process's, an operator's) is left as it is; an erased
    /// actor's details are dropped.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn seal_metadata(&self, metadata: &mut Value) -> Result<(), PersonalDataError> {
        self.seal_metadata_where(metadata, |_| true).await.map(|_| ())
    }

    /// Seals the network details that an event written before sealing
    /// existed still holds in plaintext (values already sealed are left as
    /// they are): the re-sealing of old history. True when it changed
    /// anything.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn seal_legacy_metadata(&self, metadata: &mut Value) -> Result<bool, PersonalDataError> {
        self.seal_metadata_where(metadata, |value| parse_sealed(value).is_none())
            .await
    }

    /// Seals the metadata fields whose text `pending` picks; true when any
    /// value was sealed or dropped.
    async fn seal_metadata_where(
        &self,
        metadata: &mut Value,
        pending: impl Fn(&str) -> bool,
    ) -> Result<bool, PersonalDataError> {
        let Some(map) = metadata.as_object_mut() else {
            return Ok(false);
        };
        let Some(subject) = map
            .get("actor")
            .and_then(Value::as_str)
            .and_then(|a| Uuid::parse_str(a).ok())
        else {
            return Ok(false);
        };
        let fields: Vec<&str> = SEALED_METADATA
            .iter()
            .copied()
            .filter(|f| map.get(*f).and_then(Value::as_str).is_some_and(&pending))
            .collect();
        if fields.is_empty() {
            return Ok(false);
        }
        let key = match self.key_for_sealing(subject).await {
            Ok(key) => key,
            Err(PersonalDataError::Erased(_)) => {
                for field in fields {
                    map.remove(field);
                }
                return Ok(true);
            }
            Err(error) => return Err(error),
        };
        for field in fields {
            let Some(plaintext) = map.get(field).and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let sealed = encrypt(&key, plaintext.as_bytes(), &associated_data(subject, field))?;
            let text = format!("{PREFIX}{subject}:{}", URL_SAFE_NO_PAD.encode(sealed));
            map.insert(field.to_owned(), Value::String(text));
        }
        Ok(true)
    }

    /// Opens the sealed network details of many events' metadata at once,
    /// through `client` (plaintext, or [`ERASED`]).
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn open_metadata_with<'a>(
        &self,
        client: Option<&impl GenericClient>,
        metadata: impl IntoIterator<Item = &'a mut Value>,
    ) -> Result<(), PersonalDataError> {
        let pending = metadata
            .into_iter()
            .filter_map(Value::as_object_mut)
            .map(|map| (map, SEALED_METADATA.to_vec()))
            .collect();
        self.open_maps(client, pending).await
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
        for (aggregate_type, event_type, payload) in events {
            let fields: Vec<&'static str> = sealed_fields(aggregate_type, event_type)
                .map(|f| f.field)
                .collect();
            if fields.is_empty() {
                continue;
            }
            if let Some(inner) = inner_mut(payload) {
                pending.push((inner, fields));
            }
        }
        self.open_maps(client, pending).await
    }

    /// Opens `fields` of each map in `pending`: one key look-up for all.
    async fn open_maps(
        &self,
        client: Option<&impl GenericClient>,
        pending: Vec<(&mut serde_json::Map<String, Value>, Vec<&'static str>)>,
    ) -> Result<(), PersonalDataError> {
        let mut subjects = HashSet::new();
        for (inner, fields) in &pending {
            for field in fields {
                if let Some((subject, _)) = inner.get(*field).and_then(Value::as_str).and_then(parse_sealed) {
                    subjects.insert(subject);
                }
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
