//! Tokens signed, verified, expired, rotated and tampered with.

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
    let forged = public::sign(&key.secret, &claims, Some(&footer), Some(IMPLICIT_ASSERTION)).expect("sign");
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
