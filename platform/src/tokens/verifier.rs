//! Verifying access tokens and documents against every key this process trusts.

use super::*;

impl TokenVerifier {
    /// Checks a document signed with [`TokenSigner::sign_document`] for
    /// `purpose` and returns its claims and the signing key's id.
    ///
    /// # Errors
    /// A [`TokenError`] when it is malformed, signed by an unknown key, or
    /// its signature does not match.
    pub fn verify_document(
        &self,
        document: &str,
        purpose: &str,
    ) -> Result<(serde_json::Map<String, serde_json::Value>, String), TokenError> {
        let untrusted =
            UntrustedToken::<Public, V4>::try_from(document).map_err(|_| TokenError::Malformed)?;
        let kid = key_id_in_footer(untrusted.untrusted_footer())?;
        let keys = self.held();
        let key = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut rules = ClaimsValidationRules::new();
        rules.allow_non_expiring();
        let trusted = public::verify(&key.public, &untrusted, &rules, None, Some(purpose.as_bytes()))
            .map_err(|_| TokenError::Invalid)?;
        let claims = trusted.payload_claims().ok_or(TokenError::Invalid)?;
        let text = claims.to_string().map_err(|_| TokenError::Invalid)?;
        let map = serde_json::from_str(&text).map_err(|_| TokenError::Invalid)?;
        Ok((map, kid))
    }

    /// A verifier over `keys`, by key id.
    pub fn from_keys(keys: HashMap<String, VerifyingKey>) -> Self {
        Self {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            verified: Arc::default(),
        }
    }

    /// A verifier for PASERK `k4.public.…` keys, separated by commas (the
    /// old and the new key during a rotation).
    ///
    /// # Errors
    /// When a part is not such a key.
    pub fn from_paserk(public: &str) -> Result<Self> {
        let mut keys = HashMap::new();
        for text in public.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (id, key) = VerifyingKey::from_paserk(text, None, None)?;
            keys.insert(id, key);
        }
        if keys.is_empty() {
            anyhow::bail!("no public key given");
        }
        Ok(Self::from_keys(keys))
    }

    /// Makes `keys` the keys this verifier and its clones trust, and forgets
    /// the tokens verified with the old ones.
    pub fn replace(&self, keys: HashMap<String, VerifyingKey>) {
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut held) => *held = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        if let Ok(mut verified) = self.verified.lock() {
            verified.clear();
        }
    }

    /// The ids of the keys trusted now.
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.held().keys().cloned().collect();
        ids.sort();
        ids
    }

    pub(super) fn held(&self) -> Arc<HashMap<String, VerifyingKey>> {
        match self.keys.read() {
            Ok(held) => held.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Checks a token's signature, purpose and validity period, and that
    /// its key still vouches for it.
    ///
    /// # Errors
    /// A [`TokenError`] saying why it is refused.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let remembered = self
            .verified
            .lock()
            .ok()
            .and_then(|verified| verified.get(token).cloned());
        if let Some(remembered) = remembered {
            let keys = self.held();
            let key = keys.get(&remembered.key_id).ok_or(TokenError::UnknownKey)?;
            key.vouches_for(&remembered.claims, Utc::now())?;
            return Ok(remembered.claims);
        }
        let (claims, key_id) = self.verify_signature(token)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear();
            }
            verified.insert(
                token.to_owned(),
                Remembered {
                    claims: claims.clone(),
                    key_id,
                },
            );
        }
        Ok(claims)
    }

    /// [`TokenVerifier::verify`] without the memory of verified tokens;
    /// also names the key that signed.
    pub(super) fn verify_signature(&self, token: &str) -> Result<(AccessClaims, String), TokenError> {
        let untrusted = UntrustedToken::<Public, V4>::try_from(token).map_err(|_| TokenError::Malformed)?;
        let kid = key_id_in_footer(untrusted.untrusted_footer())?;
        let keys = self.held();
        let key = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        if key.revoked_at.is_some_and(|revoked| revoked <= Utc::now()) {
            return Err(TokenError::UnknownKey);
        }
        let trusted = public::verify(
            &key.public,
            &untrusted,
            &ClaimsValidationRules::new(),
            None,
            Some(IMPLICIT_ASSERTION),
        )
        .map_err(|_| TokenError::Invalid)?;
        let claims = trusted.payload_claims().ok_or(TokenError::Invalid)?;
        let text = |name: &str| claims.get_claim(name).and_then(|v| v.as_str());
        let user_id = text("sub")
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(TokenError::Invalid)?;
        let token_id = text("jti").ok_or(TokenError::Invalid)?.to_owned();
        let time = |name: &str| {
            text(name)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or(TokenError::Invalid)
        };
        let session_id = match text("sid") {
            Some(sid) => Some(Uuid::parse_str(sid).map_err(|_| TokenError::Invalid)?),
            None => None,
        };
        let roles = claims
            .get_claim("roles")
            .and_then(|v| v.as_array())
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let claims = AccessClaims {
            user_id,
            token_id,
            session_id,
            roles,
            issued_at: time("iat")?,
            expires_at: time("exp")?,
        };
        key.vouches_for(&claims, Utc::now())?;
        Ok((claims, kid))
    }
}

/// A verified token's claims and the key that signed it.
#[derive(Clone)]
pub(super) struct Remembered {
    claims: AccessClaims,
    key_id: String,
}

impl VerifyingKey {
    /// Whether this key still vouches for an access token with `claims` at
    /// `now`: not expired, not revoked, not issued after the key retired,
    /// and not meant to live longer than [`ACCESS_TOKEN_TTL`] (a leaked
    /// retired key cannot mint a back-dated token that outlives it).
    pub(super) fn vouches_for(&self, claims: &AccessClaims, now: DateTime<Utc>) -> Result<(), TokenError> {
        let lifetime = claims.expires_at.signed_duration_since(claims.issued_at);
        let longest = chrono::Duration::from_std(ACCESS_TOKEN_TTL + Duration::from_secs(1))
            .map_err(|_| TokenError::Invalid)?;
        let grace = chrono::Duration::from_std(CLOCK_GRACE).map_err(|_| TokenError::Invalid)?;
        let refused = claims.expires_at <= now
            || lifetime > longest
            || self.revoked_at.is_some_and(|revoked| revoked <= now)
            || self
                .retired_at
                .is_some_and(|retired| claims.issued_at > retired + grace);
        if refused { Err(TokenError::Invalid) } else { Ok(()) }
    }
}

/// Audit checkpoints verify against every key this process trusts.
impl zekka_event_store::integrity::DocumentVerifier for TokenVerifier {
    fn verify(
        &self,
        document: &str,
        purpose: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        self.verify_document(document, purpose)
            .map(|(claims, _)| claims)
            .map_err(|error| error.to_string())
    }
}
