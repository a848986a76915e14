//! Access tokens: PASETO v4.public, signed by command-api, verified by every
//! service with only the public key. The hot path (verification) touches no
//! database.
//!
//! Each token carries the user id (`sub`), a unique id (`jti`), `iat`/`nbf`/
//! `exp`, and in its footer the PASERK id (`kid`) of the key that signed it,
//! so keys can rotate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use pasetors::claims::{Claims, ClaimsValidationRules};
use pasetors::footer::Footer;
use pasetors::keys::{AsymmetricKeyPair, AsymmetricPublicKey, AsymmetricSecretKey, Generate};
use pasetors::paserk::{FormatAsPaserk, Id};
use pasetors::token::UntrustedToken;
use pasetors::version4::V4;
use pasetors::{Public, public};
use uuid::Uuid;

/// How long an access token is valid.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// Binds tokens to this purpose: a token signed for something else with the
/// same key does not verify as an access token.
const IMPLICIT_ASSERTION: &[u8] = b"zekka:access:v1";

/// A statement signed by [`TokenSigner::sign_document`].
#[derive(Debug, Clone)]
pub struct SignedDocument {
    /// The document (`v4.public.…`).
    pub text: String,
    /// The PASERK id of the key that signed it.
    pub key_id: String,
}

/// What a verified access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The signed-in user.
    pub user_id: Uuid,
    /// The token's unique id, for revocation.
    pub token_id: String,
    /// The session (refresh-token family) it belongs to.
    pub session_id: Option<Uuid>,
    /// System roles (`admin`, `auditor`) held when it was issued.
    pub roles: Vec<String>,
    /// When it was issued (milliseconds kept, for revocation cut-offs).
    pub issued_at: DateTime<Utc>,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

impl AccessClaims {
    /// Whether the token carries the system role `role`.
    pub fn has_role(&self, role: zekka_domain::user::SystemRole) -> bool {
        self.roles.iter().any(|r| r == role.as_str())
    }
}

/// An issued token and when it expires.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token text (`v4.public.…`).
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Signs access tokens and audit documents (command-api only).
///
/// It holds every key that may sign: the newest one whose activation time
/// has come signs, so a rotated-in key starts signing at the same moment in
/// every process that knows it (see [`crate::signing_keys`]). Cloning shares
/// the keys, so a refresh reaches every holder.
#[derive(Clone)]
pub struct TokenSigner {
    keys: Arc<RwLock<Arc<Vec<SigningKey>>>>,
}

/// One key a [`TokenSigner`] may sign with.
pub struct SigningKey {
    secret: AsymmetricSecretKey<V4>,
    public: AsymmetricPublicKey<V4>,
    key_id: String,
    activates_at: DateTime<Utc>,
}

/// Verifies access tokens against every known public key.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<RwLock<Arc<HashMap<String, VerifyingKey>>>>,
    /// Tokens whose signature was checked already, with their claims: a
    /// client sends the same token with every request, and an Ed25519
    /// verification is the largest CPU cost of a small request. Expiry is
    /// checked on every use; revocation is not this cache's business (the
    /// caller checks the deny-lists each time). Emptied when the keys change.
    verified: Arc<Mutex<HashMap<String, Remembered>>>,
}

/// A public key and how long it may vouch for access tokens.
#[derive(Clone)]
pub struct VerifyingKey {
    public: AsymmetricPublicKey<V4>,
    /// When a newer key took over: access tokens issued later than this
    /// (plus [`CLOCK_GRACE`]) are refused, so a retired key's tokens end
    /// within [`ACCESS_TOKEN_TTL`] of its retirement.
    retired_at: Option<DateTime<Utc>>,
    /// From this moment the key vouches for no access token at all (it was
    /// rotated out because it may have leaked).
    revoked_at: Option<DateTime<Utc>>,
}

/// How far apart the clocks of two processes may be: a token issued by a
/// retired key this soon after its retirement is still accepted.
pub const CLOCK_GRACE: Duration = Duration::from_secs(60);

/// How many verified tokens are remembered (about 1 KiB each); when full
/// the memory is emptied and fills again with the tokens in use.
const VERIFIED_TOKENS: usize = 10_000;

/// Why a token was refused. Deliberately coarse: clients are told only 401.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed v4.public token.
    #[error("malformed token")]
    Malformed,
    /// Signed by a key this service does not know.
    #[error("unknown signing key")]
    UnknownKey,
    /// Bad signature, expired, or not yet valid.
    #[error("invalid or expired token")]
    Invalid,
}

/// A new Ed25519 key pair as PASERK texts: (`k4.secret.…`, `k4.public.…`).
///
/// # Errors
/// When the system's random source fails.
pub fn generate_key_pair() -> Result<(String, String)> {
    let pair = AsymmetricKeyPair::<V4>::generate().map_err(|e| anyhow!("failed to generate a key: {e}"))?;
    let mut secret = String::new();
    pair.secret
        .fmt(&mut secret)
        .map_err(|e| anyhow!("failed to format the key: {e}"))?;
    let mut public = String::new();
    pair.public
        .fmt(&mut public)
        .map_err(|e| anyhow!("failed to format the key: {e}"))?;
    Ok((secret, public))
}

fn key_id(public: &AsymmetricPublicKey<V4>) -> Result<String> {
    let mut id = String::new();
    Id::from(public)
        .fmt(&mut id)
        .map_err(|e| anyhow!("failed to format key id: {e}"))?;
    Ok(id)
}

impl SigningKey {
    /// A key from its PASERK `k4.secret.…` text, signing from `activates_at`.
    ///
    /// # Errors
    /// When the text is not such a key.
    pub fn from_paserk(secret: &str, activates_at: DateTime<Utc>) -> Result<Self> {
        let secret = AsymmetricSecretKey::<V4>::try_from(secret)
            .map_err(|_| anyhow!("the signing key is not a PASERK k4.secret key"))?;
        let public = AsymmetricPublicKey::<V4>::try_from(&secret)
            .map_err(|_| anyhow!("failed to derive the public key"))?;
        Ok(Self {
            key_id: key_id(&public)?,
            secret,
            public,
            activates_at,
        })
    }
}

impl VerifyingKey {
    /// A key from its PASERK `k4.public.…` text, with its retirement and
    /// revocation times.
    ///
    /// # Errors
    /// When the text is not such a key.
    pub fn from_paserk(
        public: &str,
        retired_at: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> Result<(String, Self)> {
        let public = AsymmetricPublicKey::<V4>::try_from(public)
            .map_err(|_| anyhow!("a public key is not a PASERK k4.public key"))?;
        Ok((
            key_id(&public)?,
            Self {
                public,
                retired_at,
                revoked_at,
            },
        ))
    }
}

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
    fn held(&self) -> Arc<Vec<SigningKey>> {
        match self.keys.read() {
            Ok(held) => held.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Hands `sign` the newest key already active (or the oldest, when none
    /// is active yet).
    fn with_current<T>(&self, sign: impl FnOnce(&SigningKey) -> Result<T>) -> Result<T> {
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

/// The `kid` named in a token's footer, which picks the verifying key.
///
/// Read with serde rather than `pasetors::footer::Footer::parse_bytes`,
/// which compiles a regular expression on every call (a third of the CPU
/// of verifying a token). Nothing is lost by not handing the footer to
/// `public::verify` for comparison: the signature covers the footer bytes,
/// so a footer that was changed fails verification anyway.
fn key_id_in_footer(footer: &[u8]) -> Result<String, TokenError> {
    /// Footers are a key id and nothing else; anything much longer is not ours.
    const MAX_FOOTER: usize = 512;
    #[derive(serde::Deserialize)]
    struct KeyId {
        kid: String,
    }
    if footer.len() > MAX_FOOTER {
        return Err(TokenError::Malformed);
    }
    serde_json::from_slice::<KeyId>(footer)
        .map(|footer| footer.kid)
        .map_err(|_| TokenError::Malformed)
}

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

    fn held(&self) -> Arc<HashMap<String, VerifyingKey>> {
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
    fn verify_signature(&self, token: &str) -> Result<(AccessClaims, String), TokenError> {
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
struct Remembered {
    claims: AccessClaims,
    key_id: String,
}

impl VerifyingKey {
    /// Whether this key still vouches for an access token with `claims` at
    /// `now`: not expired, not revoked, not issued after the key retired,
    /// and not meant to live longer than [`ACCESS_TOKEN_TTL`] (a leaked
    /// retired key cannot mint a back-dated token that outlives it).
    fn vouches_for(&self, claims: &AccessClaims, now: DateTime<Utc>) -> Result<(), TokenError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        let pair = AsymmetricKeyPair::<V4>::generate().expect("keygen");
        let mut secret = String::new();
        pair.secret.fmt(&mut secret).expect("format");
        TokenSigner::from_paserk(&secret).expect("signer")
    }

    #[test]
    fn an_issued_token_verifies_and_names_its_user() {
        let signer = signer();
        let user = Uuid::now_v7();
        let session = Uuid::now_v7();
        let issued = signer
            .issue(user, Some(session), &["admin".to_owned()])
            .expect("issue");
        let claims = signer
            .verifier()
            .expect("verifier")
            .verify(&issued.token)
            .expect("verify");
        assert_eq!(claims.user_id, user);
        assert_eq!(claims.session_id, Some(session));
        assert!(claims.has_role(zekka_domain::user::SystemRole::Admin));
        assert_eq!(issued.expires_in, 900);
    }

    #[test]
    fn a_signed_document_verifies_only_for_its_purpose_and_never_as_an_access_token() {
        let signer = signer();
        let verifier = signer.verifier().expect("verifier");
        let claims = serde_json::json!({"position": 42, "hash": "ab"});
        let claims = claims.as_object().expect("object").clone();
        let signed = signer.sign_document("zekka:test:v1", &claims).expect("sign");
        let document = signed.text;
        let (read, kid) = verifier
            .verify_document(&document, "zekka:test:v1")
            .expect("verify");
        assert_eq!(read["position"], 42);
        assert_eq!(kid, signed.key_id);
        assert_eq!(kid, signer.key_id().expect("key id"));
        assert!(verifier.verify_document(&document, "zekka:other:v1").is_err());
        assert!(verifier.verify(&document).is_err());
        let access = signer.issue(Uuid::now_v7(), None, &[]).expect("issue");
        assert!(verifier.verify_document(&access.token, "zekka:test:v1").is_err());
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let signer = signer();
        let issued = signer.issue(Uuid::now_v7(), None, &[]).expect("issue");
        let mut bytes = issued.token.into_bytes();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert!(signer.verifier().expect("verifier").verify(&tampered).is_err());
    }

    #[test]
    fn a_token_from_another_key_is_refused() {
        let issued = signer().issue(Uuid::now_v7(), None, &[]).expect("issue");
        assert!(
            signer()
                .verifier()
                .expect("verifier")
                .verify(&issued.token)
                .is_err()
        );
    }

    fn verifier_with(
        signer: &TokenSigner,
        retired_at: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> TokenVerifier {
        let keys = signer
            .verifying_keys()
            .expect("keys")
            .into_iter()
            .map(|(id, key)| {
                (
                    id,
                    VerifyingKey {
                        retired_at,
                        revoked_at,
                        ..key
                    },
                )
            })
            .collect();
        TokenVerifier::from_keys(keys)
    }

    #[test]
    fn a_retired_key_vouches_only_for_tokens_issued_before_it_retired() {
        let signer = signer();
        let token = signer.issue(Uuid::now_v7(), None, &[]).expect("issue").token;
        let now = Utc::now();
        let later = verifier_with(&signer, Some(now + chrono::Duration::minutes(5)), None);
        assert!(later.verify(&token).is_ok(), "issued before the retirement");
        let long_ago = verifier_with(&signer, Some(now - chrono::Duration::minutes(5)), None);
        assert!(long_ago.verify(&token).is_err(), "issued after the retirement");
        let within_grace = verifier_with(&signer, Some(now - chrono::Duration::seconds(30)), None);
        assert!(within_grace.verify(&token).is_ok(), "a clock a little behind");
    }

    #[test]
    fn a_revoked_key_vouches_for_nothing_even_for_a_remembered_token() {
        let signer = signer();
        let token = signer.issue(Uuid::now_v7(), None, &[]).expect("issue").token;
        let verifier = signer.verifier().expect("verifier");
        assert!(verifier.verify(&token).is_ok());
        let revoked = verifier_with(&signer, None, Some(Utc::now() - chrono::Duration::seconds(1)));
        verifier.replace(revoked.held().as_ref().clone());
        assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn a_token_meant_to_outlive_the_access_token_lifetime_is_refused() {
        // What someone holding a retired key's secret could mint: back-dated
        // so it passes the retirement check, and valid for a year.
        let signer = signer();
        let keys = signer.held();
        let key = keys.first().expect("a key");
        let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let issued = Utc::now() - chrono::Duration::hours(1);
        let mut claims = Claims::new().expect("claims");
        claims.subject(&Uuid::now_v7().to_string()).expect("sub");
        claims.token_identifier("forged").expect("jti");
        claims.issued_at(&rfc3339(issued)).expect("iat");
        claims.not_before(&rfc3339(issued)).expect("nbf");
        claims
            .expiration(&rfc3339(issued + chrono::Duration::days(365)))
            .expect("exp");
        let mut footer = Footer::new();
        footer.key_id(&Id::from(&key.public));
        let forged =
            public::sign(&key.secret, &claims, Some(&footer), Some(IMPLICIT_ASSERTION)).expect("sign");
        assert!(signer.verifier().expect("verifier").verify(&forged).is_err());
    }

    #[test]
    fn a_signer_switches_to_a_newer_key_at_its_activation_time() {
        let (old_secret, _) = generate_key_pair().expect("pair");
        let (new_secret, _) = generate_key_pair().expect("pair");
        let now = Utc::now();
        let old = SigningKey::from_paserk(&old_secret, now - chrono::Duration::days(1)).expect("old");
        let old_id = old.key_id.clone();
        let pending = SigningKey::from_paserk(&new_secret, now + chrono::Duration::minutes(1)).expect("new");
        let new_id = pending.key_id.clone();
        let signer = TokenSigner::from_keys(vec![pending, old]).expect("signer");
        assert_eq!(signer.key_id().expect("id"), old_id);
        let active = SigningKey::from_paserk(&new_secret, now - chrono::Duration::seconds(1)).expect("new");
        let old = SigningKey::from_paserk(&old_secret, now - chrono::Duration::days(1)).expect("old");
        signer.replace(vec![old, active]).expect("replace");
        assert_eq!(signer.key_id().expect("id"), new_id);
        assert!(TokenSigner::from_keys(Vec::new()).is_err());
    }
}
