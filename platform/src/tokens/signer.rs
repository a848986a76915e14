//! Signing access tokens and documents with the current key.

use super::*;

impl TokenSigner {
    /// A signer for one PASERK `k4.secret.…` key.
    ///
    /// # Errors
    /// When the text is not such a key.
    pub fn from_paserk(secret: &str) -> Result<Self> {
        Self::from_keys(vec![SigningKey::from_paserk(secret, DateTime::<Utc>::MIN_UTC)?])
    }

    /// A signer over `keys` (at least one).
    ///
    /// # Errors
    /// When `keys` is empty.
    pub fn from_keys(keys: Vec<SigningKey>) -> Result<Self> {
        let signer = Self {
            keys: Arc::new(RwLock::new(Arc::new(Vec::new()))),
        };
        signer.replace(keys)?;
        Ok(signer)
    }

    /// Makes `keys` (at least one) the keys this signer and its clones use.
    ///
    /// # Errors
    /// When `keys` is empty.
    pub fn replace(&self, mut keys: Vec<SigningKey>) -> Result<()> {
        if keys.is_empty() {
            anyhow::bail!("no key to sign with");
        }
        keys.sort_by_key(|key| key.activates_at);
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut held) => *held = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        Ok(())
    }

    /// The keys held now (a cheap copy of a shared list).
    pub(super) fn held(&self) -> Arc<Vec<SigningKey>> {
        match self.keys.read() {
            Ok(held) => held.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Hands `sign` the newest key already active (or the oldest, when none
    /// is active yet).
    pub(super) fn with_current<T>(&self, sign: impl FnOnce(&SigningKey) -> Result<T>) -> Result<T> {
        let keys = self.held();
        let now = Utc::now();
        let current = keys
            .iter()
            .rev()
            .find(|key| key.activates_at <= now)
            .or_else(|| keys.first());
        sign(current.ok_or_else(|| anyhow!("no key to sign with"))?)
    }

    /// The verifier that accepts this signer's tokens (every key it holds).
    ///
    /// # Errors
    /// When a public key cannot be copied.
    pub fn verifier(&self) -> Result<TokenVerifier> {
        Ok(TokenVerifier::from_keys(self.verifying_keys()?))
    }

    /// The public halves of the keys held, by key id.
    ///
    /// # Errors
    /// When a public key cannot be copied.
    pub fn verifying_keys(&self) -> Result<HashMap<String, VerifyingKey>> {
        let mut keys = HashMap::new();
        for key in self.held().iter() {
            let public = AsymmetricPublicKey::<V4>::from(key.public.as_bytes())
                .map_err(|_| anyhow!("failed to copy the public key"))?;
            keys.insert(
                key.key_id.clone(),
                VerifyingKey {
                    public,
                    retired_at: None,
                    revoked_at: None,
                },
            );
        }
        Ok(keys)
    }

    /// Issues an access token for `user_id` in session `session_id` with
    /// system `roles`, valid for [`ACCESS_TOKEN_TTL`].
    ///
    /// # Errors
    /// When signing fails (it does not with a valid key).
    pub fn issue(&self, user_id: Uuid, session_id: Option<Uuid>, roles: &[String]) -> Result<IssuedToken> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(ACCESS_TOKEN_TTL)?;
        let mut claims = Claims::new().map_err(|e| anyhow!("claims: {e}"))?;
        let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        claims
            .subject(&user_id.to_string())
            .map_err(|e| anyhow!("sub: {e}"))?;
        if let Some(session_id) = session_id {
            claims
                .add_additional("sid", session_id.to_string())
                .map_err(|e| anyhow!("sid: {e}"))?;
        }
        claims
            .add_additional("roles", serde_json::json!(roles))
            .map_err(|e| anyhow!("roles: {e}"))?;
        claims
            .token_identifier(&Uuid::new_v4().to_string())
            .map_err(|e| anyhow!("jti: {e}"))?;
        claims.issued_at(&rfc3339(now)).map_err(|e| anyhow!("iat: {e}"))?;
        claims
            .not_before(&rfc3339(now))
            .map_err(|e| anyhow!("nbf: {e}"))?;
        claims
            .expiration(&rfc3339(expires))
            .map_err(|e| anyhow!("exp: {e}"))?;
        let token = self.with_current(|key| {
            let mut footer = Footer::new();
            footer.key_id(&Id::from(&key.public));
            public::sign(&key.secret, &claims, Some(&footer), Some(IMPLICIT_ASSERTION))
                .map_err(|e| anyhow!("failed to sign the token: {e}"))
        })?;
        Ok(IssuedToken {
            token,
            expires_in: ACCESS_TOKEN_TTL.as_secs(),
        })
    }
}

impl TokenSigner {
    /// Signs `claims` as a never-expiring statement for `purpose` (a PASETO
    /// v4.public token whose implicit assertion is the purpose, so it can
    /// never pass as an access token, nor an access token as it). Audit
    /// checkpoints are signed this way, to be kept outside the system.
    ///
    /// # Errors
    /// When a claim is reserved or signing fails.
    pub fn sign_document(
        &self,
        purpose: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<SignedDocument> {
        let mut document = Claims::new().map_err(|e| anyhow!("claims: {e}"))?;
        document.non_expiring();
        for (name, value) in claims {
            document
                .add_additional(name, value.clone())
                .map_err(|e| anyhow!("claim {name}: {e}"))?;
        }
        self.with_current(|key| {
            let mut footer = Footer::new();
            footer.key_id(&Id::from(&key.public));
            let text = public::sign(&key.secret, &document, Some(&footer), Some(purpose.as_bytes()))
                .map_err(|e| anyhow!("failed to sign the document: {e}"))?;
            Ok(SignedDocument {
                text,
                key_id: key.key_id.clone(),
            })
        })
    }

    /// The PASERK id of the key that signs now.
    ///
    /// # Errors
    /// When the signer holds no key (it always holds one).
    pub fn key_id(&self) -> Result<String> {
        self.with_current(|key| Ok(key.key_id.clone()))
    }
}

/// Audit checkpoints are signed with the current token key.
impl zekka_event_store::integrity::DocumentSigner for TokenSigner {
    fn sign(
        &self,
        purpose: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(String, String), String> {
        self.sign_document(purpose, claims)
            .map(|signed| (signed.text, signed.key_id))
            .map_err(|error| error.to_string())
    }
}
