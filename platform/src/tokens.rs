//! Access tokens: PASETO v4.public, signed by command-api, verified by every
//! service with only the public key. The hot path (verification) touches no
//! database.
//!
//! Each token carries the user id (`sub`), a unique id (`jti`), `iat`/`nbf`/
//! `exp`, and in its footer the PASERK id (`kid`) of the key that signed it,
//! so keys can rotate.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use pasetors::claims::{Claims, ClaimsValidationRules};
use pasetors::footer::Footer;
use pasetors::keys::{AsymmetricKeyPair, AsymmetricPublicKey, AsymmetricSecretKey, Generate};
use pasetors::paserk::{FormatAsPaserk, Id};
use pasetors::token::UntrustedToken;
use pasetors::version4::V4;
use pasetors::{Public, public};
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Config;

/// How long an access token is valid.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// Binds tokens to this purpose: a token signed for something else with the
/// same key does not verify as an access token.
const IMPLICIT_ASSERTION: &[u8] = b"zekka:access:v1";

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
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
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

/// Signs access tokens (command-api only).
pub struct TokenSigner {
    secret: AsymmetricSecretKey<V4>,
    public: AsymmetricPublicKey<V4>,
    key_id: String,
}

/// Verifies access tokens against every known public key.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<String, AsymmetricPublicKey<V4>>,
    /// Tokens whose signature was checked already, with their claims: a
    /// client sends the same token with every request, and an Ed25519
    /// verification is the largest CPU cost of a small request. Expiry is
    /// checked on every use; revocation is not this cache's business (the
    /// caller checks the deny-lists each time).
    verified: std::sync::Arc<std::sync::Mutex<HashMap<String, AccessClaims>>>,
}

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

fn key_id(public: &AsymmetricPublicKey<V4>) -> Result<String> {
    let mut id = String::new();
    Id::from(public)
        .fmt(&mut id)
        .map_err(|e| anyhow!("failed to format key id: {e}"))?;
    Ok(id)
}

impl TokenSigner {
    /// A signer for a PASERK `k4.secret.…` key.
    ///
    /// # Errors
    /// When the text is not such a key.
    pub fn from_paserk(secret: &str) -> Result<Self> {
        let secret = AsymmetricSecretKey::<V4>::try_from(secret)
            .map_err(|_| anyhow!("the signing key is not a PASERK k4.secret key"))?;
        let public = AsymmetricPublicKey::<V4>::try_from(&secret)
            .map_err(|_| anyhow!("failed to derive the public key"))?;
        Ok(Self {
            key_id: key_id(&public)?,
            secret,
            public,
        })
    }

    /// The verifier that accepts this signer's tokens.
    ///
    /// # Errors
    /// When the public key cannot be derived.
    pub fn verifier(&self) -> Result<TokenVerifier> {
        let public = AsymmetricPublicKey::<V4>::from(self.public.as_bytes())
            .map_err(|_| anyhow!("failed to copy the public key"))?;
        Ok(TokenVerifier {
            verified: std::sync::Arc::default(),
            keys: HashMap::from([(self.key_id.clone(), public)]),
        })
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
        let mut footer = Footer::new();
        footer.key_id(&Id::from(&self.public));
        let token = public::sign(&self.secret, &claims, Some(&footer), Some(IMPLICIT_ASSERTION))
            .map_err(|e| anyhow!("failed to sign the token: {e}"))?;
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
    ) -> Result<String> {
        let mut document = Claims::new().map_err(|e| anyhow!("claims: {e}"))?;
        document.non_expiring();
        for (name, value) in claims {
            document
                .add_additional(name, value.clone())
                .map_err(|e| anyhow!("claim {name}: {e}"))?;
        }
        let mut footer = Footer::new();
        footer.key_id(&Id::from(&self.public));
        public::sign(&self.secret, &document, Some(&footer), Some(purpose.as_bytes()))
            .map_err(|e| anyhow!("failed to sign the document: {e}"))
    }

    /// The PASERK id of the signing key.
    pub fn key_id(&self) -> &str {
        &self.key_id
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
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut rules = ClaimsValidationRules::new();
        rules.allow_non_expiring();
        let trusted = public::verify(key, &untrusted, &rules, None, Some(purpose.as_bytes()))
            .map_err(|_| TokenError::Invalid)?;
        let claims = trusted.payload_claims().ok_or(TokenError::Invalid)?;
        let text = claims.to_string().map_err(|_| TokenError::Invalid)?;
        let map = serde_json::from_str(&text).map_err(|_| TokenError::Invalid)?;
        Ok((map, kid))
    }

    /// A verifier for a PASERK `k4.public.…` key.
    ///
    /// # Errors
    /// When the text is not such a key.
    pub fn from_paserk(public: &str) -> Result<Self> {
        let key = AsymmetricPublicKey::<V4>::try_from(public)
            .map_err(|_| anyhow!("the public key is not a PASERK k4.public key"))?;
        Ok(Self {
            keys: HashMap::from([(key_id(&key)?, key)]),
            verified: std::sync::Arc::default(),
        })
    }

    /// Checks a token's signature, purpose and validity period.
    ///
    /// # Errors
    /// A [`TokenError`] saying why it is refused.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let remembered = self
            .verified
            .lock()
            .ok()
            .and_then(|verified| verified.get(token).cloned());
        if let Some(claims) = remembered {
            return if claims.expires_at > Utc::now() {
                Ok(claims)
            } else {
                Err(TokenError::Invalid)
            };
        }
        let claims = self.verify_signature(token)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear();
            }
            verified.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    /// [`TokenVerifier::verify`] without the memory of verified tokens.
    fn verify_signature(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let untrusted = UntrustedToken::<Public, V4>::try_from(token).map_err(|_| TokenError::Malformed)?;
        let kid = key_id_in_footer(untrusted.untrusted_footer())?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let trusted = public::verify(
            key,
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
        Ok(AccessClaims {
            user_id,
            token_id,
            session_id,
            roles,
            issued_at: time("iat")?,
            expires_at: time("exp")?,
        })
    }
}

/// The signing key from `ZEKKA_SIGNING_KEY`, or else the one kept in the
/// database, generated and stored on first start.
///
/// # Errors
/// When the configured key is invalid or the database cannot be used.
pub async fn load_signer(config: &Config, pool: &PgPool) -> Result<TokenSigner> {
    if let Some(secret) = &config.signing_key {
        return TokenSigner::from_paserk(secret.expose()).context("ZEKKA_SIGNING_KEY");
    }
    let stored = ensure_stored_key(pool).await?;
    TokenSigner::from_paserk(&stored)
}

/// The verifier for a service that does not sign: `ZEKKA_PUBLIC_KEY`, else
/// the configured signing key's public half, else the public keys kept in
/// the database (the secret column is never read then, unless no key exists
/// yet and one must be generated).
///
/// # Errors
/// When a key is invalid or the database cannot be used.
pub async fn load_verifier(config: &Config, pool: &PgPool) -> Result<TokenVerifier> {
    if let Some(public) = &config.public_key {
        return TokenVerifier::from_paserk(public).context("ZEKKA_PUBLIC_KEY");
    }
    if let Some(secret) = &config.signing_key {
        return TokenSigner::from_paserk(secret.expose())
            .context("ZEKKA_SIGNING_KEY")?
            .verifier();
    }
    let mut public_keys: Vec<String> = sqlx::query_scalar("SELECT public_key FROM signing_keys")
        .fetch_all(pool)
        .await
        .context("failed to read the token keys")?;
    if public_keys.is_empty() {
        ensure_stored_key(pool).await?;
        public_keys = sqlx::query_scalar("SELECT public_key FROM signing_keys")
            .fetch_all(pool)
            .await
            .context("failed to read the token keys")?;
    }
    let mut keys = HashMap::new();
    for text in public_keys {
        let key = AsymmetricPublicKey::<V4>::try_from(text.as_str())
            .map_err(|_| anyhow!("a stored public key is not a PASERK k4.public key"))?;
        keys.insert(key_id(&key)?, key);
    }
    Ok(TokenVerifier {
        keys,
        verified: std::sync::Arc::default(),
    })
}

/// The stored signing key, generating one when there is none. Processes
/// starting together agree on one key: the check and the insert run under a
/// transaction-scoped advisory lock.
async fn ensure_stored_key(pool: &PgPool) -> Result<String> {
    let mut tx = pool.begin().await.context("failed to begin")?;
    sqlx::query("SELECT pg_advisory_xact_lock(7402012)")
        .execute(&mut *tx)
        .await
        .context("failed to lock the signing keys")?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT secret_key FROM signing_keys ORDER BY created_at DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .context("failed to read the signing key")?;
    if let Some(secret) = existing {
        return Ok(secret);
    }
    tracing::warn!(
        "no ZEKKA_SIGNING_KEY configured: generated a token signing key and kept it in the \
         database. Configure ZEKKA_SIGNING_KEY (and ZEKKA_PUBLIC_KEY for query-api) in production"
    );
    let pair = AsymmetricKeyPair::<V4>::generate().map_err(|e| anyhow!("failed to generate a key: {e}"))?;
    let mut secret = String::new();
    pair.secret
        .fmt(&mut secret)
        .map_err(|e| anyhow!("failed to format the key: {e}"))?;
    let mut public = String::new();
    pair.public
        .fmt(&mut public)
        .map_err(|e| anyhow!("failed to format the key: {e}"))?;
    sqlx::query("INSERT INTO signing_keys (key_id, secret_key, public_key) VALUES ($1, $2, $3)")
        .bind(key_id(&pair.public)?)
        .bind(&secret)
        .bind(&public)
        .execute(&mut *tx)
        .await
        .context("failed to store the signing key")?;
    tx.commit().await.context("failed to store the signing key")?;
    Ok(secret)
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
        assert!(claims.has_role("admin"));
        assert_eq!(issued.expires_in, 900);
    }

    #[test]
    fn a_signed_document_verifies_only_for_its_purpose_and_never_as_an_access_token() {
        let signer = signer();
        let verifier = signer.verifier().expect("verifier");
        let claims = serde_json::json!({"position": 42, "hash": "ab"});
        let claims = claims.as_object().expect("object").clone();
        let document = signer.sign_document("zekka:test:v1", &claims).expect("sign");
        let (read, kid) = verifier
            .verify_document(&document, "zekka:test:v1")
            .expect("verify");
        assert_eq!(read["position"], 42);
        assert_eq!(kid, signer.key_id());
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
}
