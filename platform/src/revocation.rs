//! Revoked access tokens. Access tokens are verified without a database; a
//! revoked one is remembered in [`Ephemeral`] state until it would have
//! expired anyway: by its id (logout), by its session (the session was
//! revoked), or by its user (every token issued up to a moment, after a
//! password reset). Checking costs one round trip to Redis and fails closed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ephemeral::{Ephemeral, Unavailable};
use crate::tokens::{ACCESS_TOKEN_TTL, AccessClaims};

/// The deny-lists of access tokens.
#[derive(Clone)]
pub struct Revocations {
    store: Ephemeral,
}

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
    /// Deny-lists over `store`.
    pub fn new(store: Ephemeral) -> Self {
        Self { store }
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
        let mut keys = vec![token_key(&claims.token_id), user_key(claims.user_id)];
        if let Some(session) = claims.session_id {
            keys.push(session_key(session));
        }
        let values = self.store.get_many(&keys).await?;
        let token_revoked = values.first().copied().flatten().is_some();
        let user_cutoff = values.get(1).copied().flatten();
        let session_revoked = values.get(2).copied().flatten().is_some();
        let issued_before_cutoff =
            user_cutoff.is_some_and(|cutoff| claims.issued_at.timestamp_millis() <= cutoff);
        Ok(token_revoked || session_revoked || issued_before_cutoff)
    }
}
