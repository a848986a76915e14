//! Password hashing with argon2id (OWASP's parameters), always on the
//! blocking thread pool: a hash takes tens of milliseconds of CPU and must
//! never stall the async runtime.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tracing::Instrument;
use zekka_domain::user::Password;

/// A hash of a password nobody has, verified when an email is unknown so a
/// failed sign-in takes as long whether or not the account exists.
static DECOY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"zekka decoy password, never valid")
        .ok()
        .map(|hash| hash.to_string())
});

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// argon2 refused the input.
    #[error("failed to hash the password: {0}")]
    Hash(String),
    /// The blocking task did not complete.
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hashes a password into a PHC string (`$argon2id$v=19$…`), salt included.
///
/// # Errors
/// When argon2 fails or the blocking task is cancelled.
pub async fn hash(password: Password) -> Result<String, HashError> {
    let span = tracing::info_span!("argon2_hash");
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        Argon2::default()
            .hash_password(password.expose())
            .map(|hash| hash.to_string())
            .map_err(|e| HashError::Hash(e.to_string()))
    })
    .await?
}

/// Whether `password` matches `phc`. With no hash (an unknown account) a decoy
/// is checked instead, to spend the same time, and the answer is `false`.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    let known = phc.is_some();
    let span = tracing::info_span!("argon2_verify");
    let checked = tokio::task::spawn_blocking(move || {
        let Some(phc) = phc.or_else(|| DECOY_HASH.clone()) else {
            return false;
        };
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .instrument(tracing::Span::current())
    .await;
    drop(span);
    known && checked.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let password = Password::parse("correct horse battery").expect("policy");
        let phc = hash(password).await.expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(phc)).await);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify("zekka decoy password, never valid".into(), None).await);
    }
}
