//! Opaque secrets (refresh, reset and verification tokens): 256 random bits,
//! shown to their owner once, kept only as a SHA-256 digest. A fast hash is
//! right here: the secrets are random, not guessable passwords.

use sha2::{Digest, Sha256};

/// A fresh random secret, hex-encoded (64 characters).
///
/// # Errors
/// When the operating system's random source fails.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The digest kept at rest for `secret`.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_digests_stable() {
        let a = generate().expect("random");
        let b = generate().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
