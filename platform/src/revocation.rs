//! Revoked access tokens. Access tokens are verified without a database; a
//! revoked one is remembered in [`Ephemeral`] state until it would have
//! expired anyway: by its id (logout), by its session (the session was
//! revoked), or by its user (every token issued up to a moment, after a
//! password reset). Checking costs one round trip to Redis and fails closed.
//!
//! Redis keeps nothing on disk, so a restart would forget the deny-lists
//! and revived tokens would work until they expire (security review F17).
//! The lists therefore carry a marker key: a check that finds it missing
//! (Redis restarted, or a process without Redis has just started) first
//! rebuilds them from the event store, where every revocation that still
//! matters is recorded (`SessionRevoked`, `PasswordReset`, `UserErased` of
//! the last access-token lifetime), then answers.

use std::time::Duration;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use zekka_event_store::lookups::revocations::{self, Revocation};

use crate::ephemeral::{Ephemeral, Unavailable};
use crate::tokens::{ACCESS_TOKEN_TTL, AccessClaims};
use zekka_event_store::database::ReadPool;

/// The deny-lists of access tokens.
#[derive(Clone)]
pub struct Revocations {
    store: Ephemeral,
    /// Where the lists are rebuilt from when the store lost them.
    events: ReadPool,
    /// One rebuild at a time in this process.
    restoring: Arc<tokio::sync::Mutex<()>>,
}

/// Present while the deny-lists in the store are complete.
const MARKER: &str = "revoked:complete";
/// How long the marker lives: until the store loses it (a restart), in practice.
const MARKER_KEPT: Duration = Duration::from_secs(365 * 24 * 3600);

fn token_key(token_id: &str) -> String {
    format!("revoked:jti:{token_id}")
}

fn session_key(session_id: Uuid) -> String {
    format!("revoked:sid:{session_id}")
}

fn user_key(user_id: Uuid) -> String {
    format!("revoked:user:{user_id}")
}

/// How long a deny-list entry must live: until every token it covers has expired.
const COVER: Duration = Duration::from_secs(ACCESS_TOKEN_TTL.as_secs() + 60);

impl Revocations {
    /// Deny-lists over `store`, rebuilt from the events in `events` when
    /// the store has lost them.
    pub fn new(store: Ephemeral, events: ReadPool) -> Self {
        Self {
            store,
            events,
            restoring: Arc::default(),
        }
    }

    /// Rebuilds the deny-lists from the revocations the event store
    /// recorded in the last access-token lifetime, then marks them
    /// complete. Idempotent: several processes may do it at once.
    ///
    /// # Errors
    /// When the database or the store is unreachable.
    pub async fn restore(&self) -> Result<usize, Unavailable> {
        let pool = &self.events;
        let _one = self.restoring.lock().await;
        if self
            .store
            .get_many(&[MARKER.to_owned()])
            .await?
            .first()
            .copied()
            .flatten()
            .is_some()
        {
            return Ok(0);
        }
        let unavailable =
            |e: &dyn std::fmt::Display| Unavailable::new(format!("cannot read the revocations: {e}"));
        let client = pool.get().await.map_err(|e| unavailable(&e))?;
        let revocations = revocations::recorded_within(&client, COVER)
            .await
            .map_err(|e| unavailable(&e))?;
        drop(client);
        let restored = revocations.len();
        for revocation in revocations {
            match revocation {
                Revocation::Session(session) => self.revoke_session(session).await?,
                Revocation::UserTokens { user, issued_until } => {
                    self.revoke_user_tokens(user, issued_until).await?;
                }
            }
        }
        self.store.set(MARKER, 1, MARKER_KEPT).await?;
        tracing::warn!(
            restored,
            "token deny-lists rebuilt from the event store (the shared store had lost them)"
        );
        Ok(restored)
    }

    /// Revokes one access token until its expiry.
    ///
    /// # Errors
    /// When the store is unreachable.
    pub async fn revoke_token(&self, claims: &AccessClaims) -> Result<(), Unavailable> {
        let left = (claims.expires_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
        self.store.set(&token_key(&claims.token_id), 1, left).await
    }

    /// Revokes every access token of a session.
    ///
    /// # Errors
    /// When the store is unreachable.
    pub async fn revoke_session(&self, session_id: Uuid) -> Result<(), Unavailable> {
        self.store.set(&session_key(session_id), 1, COVER).await
    }

    /// Revokes every access token of `user_id` issued up to `at`.
    ///
    /// # Errors
    /// When the store is unreachable.
    pub async fn revoke_user_tokens(&self, user_id: Uuid, at: DateTime<Utc>) -> Result<(), Unavailable> {
        self.store
            .set(&user_key(user_id), at.timestamp_millis(), COVER)
            .await
    }

    /// Whether the token described by `claims` has been revoked.
    ///
    /// # Errors
    /// When the store is unreachable (the caller must then refuse the token).
    pub async fn is_revoked(&self, claims: &AccessClaims) -> Result<bool, Unavailable> {
        let mut keys = vec![
            MARKER.to_owned(),
            token_key(&claims.token_id),
            user_key(claims.user_id),
        ];
        if let Some(session) = claims.session_id {
            keys.push(session_key(session));
        }
        let mut values = self.store.get_many(&keys).await?;
        if values.first().copied().flatten().is_none() {
            self.restore().await?;
            values = self.store.get_many(&keys).await?;
        }
        let values = &values[1..];
        let token_revoked = values.first().copied().flatten().is_some();
        let user_cutoff = values.get(1).copied().flatten();
        let session_revoked = values.get(2).copied().flatten().is_some();
        let issued_before_cutoff =
            user_cutoff.is_some_and(|cutoff| claims.issued_at.timestamp_millis() <= cutoff);
        Ok(token_revoked || session_revoked || issued_before_cutoff)
    }
}
