//! The cipher of sealed values: XChaCha20-Poly1305 bound to the subject
//! and the field, the HMAC of the blind index, and the sealed text format.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
use orion::hazardous::mac::hmac::sha256::{HmacSha256, SecretKey as HmacKey};
use uuid::Uuid;

use super::PersonalDataError;

/// The prefix of every sealed value (format version 1).
pub(crate) const PREFIX: &str = "zk:s1:";

pub(super) fn aead_key(bytes: &[u8; 32]) -> Result<SecretKey, PersonalDataError> {
    SecretKey::try_from(&bytes[..]).map_err(|_| PersonalDataError::Crypto)
}

pub(super) fn random<const N: usize>() -> Result<[u8; N], PersonalDataError> {
    let mut bytes = [0_u8; N];
    getrandom::getrandom(&mut bytes).map_err(|_| PersonalDataError::Crypto)?;
    Ok(bytes)
}

/// nonce ‖ ciphertext ‖ tag of `plaintext` under `key`, bound to `ad`.
pub(super) fn encrypt(key: &[u8; 32], plaintext: &[u8], ad: &[u8]) -> Result<Vec<u8>, PersonalDataError> {
    let nonce_bytes = random::<24>()?;
    let nonce = Nonce::try_from(&nonce_bytes[..]).map_err(|_| PersonalDataError::Crypto)?;
    let mut sealed = vec![0_u8; plaintext.len() + 16];
    XChaCha20Poly1305::seal(&aead_key(key)?, &nonce, plaintext, Some(ad), &mut sealed)
        .map_err(|_| PersonalDataError::Crypto)?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The plaintext of [`encrypt`]'s output, or `None` when it does not open.
pub(super) fn decrypt(key: &[u8; 32], sealed: &[u8], ad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 24 + 16 {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(24);
    let nonce = Nonce::try_from(nonce).ok()?;
    let mut plaintext = vec![0_u8; ciphertext.len() - 16];
    XChaCha20Poly1305::open(&aead_key(key).ok()?, &nonce, ciphertext, Some(ad), &mut plaintext).ok()?;
    Some(plaintext)
}

pub(super) fn hmac(key: &[u8; 32], data: &[u8]) -> Result<[u8; 32], PersonalDataError> {
    let key = HmacKey::try_from(&key[..]).map_err(|_| PersonalDataError::Crypto)?;
    let tag = HmacSha256::hmac(&key, data).map_err(|_| PersonalDataError::Crypto)?;
    tag.unprotected_as_ref::<[u8]>()
        .try_into()
        .map_err(|_| PersonalDataError::Crypto)
}

pub(super) fn associated_data(subject: Uuid, field: &str) -> Vec<u8> {
    let mut ad = subject.as_bytes().to_vec();
    ad.extend_from_slice(field.as_bytes());
    ad
}

/// The subject and ciphertext of a sealed value.
pub(super) fn parse_sealed(value: &str) -> Option<(Uuid, Vec<u8>)> {
    let rest = value.strip_prefix(PREFIX)?;
    let (subject, body) = rest.split_once(':')?;
    Some((Uuid::parse_str(subject).ok()?, URL_SAFE_NO_PAD.decode(body).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_subject_and_field() {
        let key = [7_u8; 32];
        let subject = Uuid::now_v7();
        let ad = associated_data(subject, "content");
        let sealed = encrypt(&key, b"hello", &ad).expect("seal");
        assert_eq!(decrypt(&key, &sealed, &ad).as_deref(), Some(&b"hello"[..]));
        assert_eq!(decrypt(&[8_u8; 32], &sealed, &ad), None);
        assert_eq!(decrypt(&key, &sealed, &associated_data(subject, "title")), None);
        assert_eq!(
            decrypt(&key, &sealed, &associated_data(Uuid::now_v7(), "content")),
            None
        );
        // Two seals of the same text differ (random nonces).
        assert_ne!(encrypt(&key, b"hello", &ad).expect("seal"), sealed);
    }

    #[test]
    fn a_sealed_string_names_its_subject() {
        let subject = Uuid::now_v7();
        let text = format!("{PREFIX}{subject}:{}", URL_SAFE_NO_PAD.encode([1_u8, 2, 3]));
        assert_eq!(parse_sealed(&text), Some((subject, vec![1, 2, 3])));
        assert_eq!(parse_sealed("plain text"), None);
    }
}
