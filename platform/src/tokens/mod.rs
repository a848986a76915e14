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

mod signer;
#[cfg(test)]
mod tests;
mod verifier;

use verifier::Remembered;

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
