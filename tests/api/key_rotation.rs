//! Token keys rotate without a restart: a new key is trusted everywhere
//! before it signs, old tokens keep working until they expire (or stop at
//! once with `--revoke-previous`), and checkpoints signed by either key
//! still verify.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use zekka::Services;
use zekka_event_store::{database, integrity};
use zekka_platform::signing_keys;

use crate::support::TestDatabase;
use crate::support::app::{Client, spawn_app_with, start_service, test_config, test_config_with};

/// The key id a token names in its footer.
fn key_id(token: &str) -> String {
    let footer = token.rsplit('.').next().expect("a footer");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(footer)
        .expect("base64url footer");
    let footer: Value = serde_json::from_slice(&bytes).expect("a JSON footer");
    footer["kid"].as_str().expect("kid").to_owned()
}

/// How a read that needs only a valid token (the caller's projects, an
/// empty list for a new account) answers `token`: 200, or 401. Not
/// `/users/me`, which is 404 until the users model has the new account.
async fn authorised_read(at: Client, token: &str) -> u16 {
    at.request("GET", "/api/v1/projects", Some(token), None)
        .await
        .status
}

async fn fresh_access_token(at: Client, email: &str) -> String {
    let login = at.login(email, crate::support::app::PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    login.json()["access_token"].as_str().expect("token").to_owned()
}

/// Sleeps until `moment` has passed by `margin`.
async fn sleep_past(moment: chrono::DateTime<chrono::Utc>, margin: Duration) {
    let left = (moment - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + margin).await;
}

#[tokio::test]
async fn a_rotated_key_is_trusted_before_it_signs_and_tokens_of_the_old_key_keep_working() {
    let db = TestDatabase::migrated().await;
    let config = test_config_with(&db.url, &[("SIGNING_KEY_REFRESH_SECONDS", "1")]);
    // Separate processes, started before the rotation: none is restarted.
    let (commands, _c) = start_service(config.clone(), Services::CommandApi).await;
    let (queries, _q) = start_service(config.clone(), Services::QueryApi).await;
    let (_projectors, _p) = start_service(config, Services::Projectors).await;
    let (commands, queries) = (Client { addr: commands }, Client { addr: queries });
    let user = commands.user("rotator").await;
    let old_key = key_id(&user.token);

    let pool = db.sqlx_pool().await;
    let rotation = signing_keys::rotate(&pool, Duration::from_secs(3), false)
        .await
        .expect("rotate");
    assert_ne!(rotation.key_id, old_key);
    assert_eq!(rotation.retired, vec![old_key.clone()]);

    // Published, not yet signing.
    let before = fresh_access_token(commands, &user.email).await;
    assert_eq!(key_id(&before), old_key);

    sleep_past(rotation.activates_at, Duration::from_millis(1500)).await;
    let after = fresh_access_token(commands, &user.email).await;
    assert_eq!(
        key_id(&after),
        rotation.key_id,
        "the new key signs after its activation"
    );
    // query-api trusts the new key without a restart, and still the old one.
    assert_eq!(authorised_read(queries, &after).await, 200);
    assert_eq!(authorised_read(queries, &user.token).await, 200);
    assert_eq!(authorised_read(queries, &before).await, 200);

    let stored = signing_keys::list(&pool).await.expect("list");
    let old = stored.iter().find(|k| k.key_id == old_key).expect("old key kept");
    assert_eq!(old.retired_at, Some(rotation.activates_at));
    assert_eq!(old.revoked_at, None);
    assert_eq!(
        signing_keys::signing_at(&stored, chrono::Utc::now()),
        Some(rotation.key_id.as_str())
    );
}

#[tokio::test]
async fn revoking_the_previous_key_ends_its_tokens_when_the_new_key_signs() {
    let app = spawn_app_with(&[("SIGNING_KEY_REFRESH_SECONDS", "1")]).await;
    let user = app.user("compromised").await;
    let pool = app.db.sqlx_pool().await;
    let rotation = signing_keys::rotate(&pool, Duration::from_secs(2), true)
        .await
        .expect("rotate");
    assert_eq!(rotation.revoked, vec![key_id(&user.token)]);
    assert_eq!(
        authorised_read(*app, &user.token).await,
        200,
        "valid until the new key signs"
    );

    sleep_past(rotation.activates_at, Duration::from_millis(1500)).await;
    assert_eq!(
        authorised_read(*app, &user.token).await,
        401,
        "the revoked key vouches for nothing"
    );
    // The session itself lives on: refreshing gives a token of the new key.
    let refreshed = app
        .request(
            "POST",
            "/api/v1/auth/refresh-token",
            None,
            Some(&json!({"refresh_token": user.refresh_token})),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let token = refreshed.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(key_id(&token), rotation.key_id);
    assert_eq!(authorised_read(*app, &token).await, 200);
}

#[tokio::test]
async fn checkpoints_signed_before_and_after_a_rotation_verify_after_the_old_secret_is_erased() {
    let app = spawn_app_with(&[]).await;
    let user = app.admin("auditor").await;
    let config = test_config(&app.db.url);
    let pool = app.db.sqlx_pool().await;
    let read_pool = database::read_pool(&config.database_url, config.pool_size).expect("read pool");
    let checkpoint = |signer| {
        let read_pool = read_pool.clone();
        async move {
            // The user's events may still be settling; sign once they are.
            for _ in 0..100 {
                if let Some(checkpoint) = zekka_command_api::app::checkpointer::once(&read_pool, &signer)
                    .await
                    .expect("checkpoint")
                {
                    return checkpoint;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no checkpoint was signed");
        }
    };
    let first = checkpoint(signing_keys::load_signer(&config, &pool).await.expect("signer")).await;

    let rotation = signing_keys::rotate(&pool, Duration::ZERO, false)
        .await
        .expect("rotate");
    app.project(&user, "After the rotation").await;
    let second = checkpoint(signing_keys::load_signer(&config, &pool).await.expect("signer")).await;
    assert!(second.global_position > first.global_position);
    // A second rotation erases the first key's secret; its public key stays.
    let again = signing_keys::rotate(&pool, Duration::ZERO, false)
        .await
        .expect("rotate again");
    let stored = signing_keys::list(&pool).await.expect("list");
    assert!(
        again.erased.iter().all(|id| id != &again.key_id) && !again.erased.is_empty(),
        "{again:?}"
    );
    assert!(stored.iter().any(|k| !k.has_secret));

    let signers: Vec<String> =
        sqlx::query_scalar("SELECT key_id FROM audit_checkpoints ORDER BY global_position")
            .fetch_all(&pool)
            .await
            .expect("checkpoint keys");
    assert_eq!(signers.len(), 2);
    assert_ne!(signers[0], signers[1]);
    assert_eq!(signers[1], rotation.key_id);

    let verifier = signing_keys::load_verifier(&config, &pool)
        .await
        .expect("verifier");
    let client = read_pool.get().await.expect("client");
    let kept = vec![first.document.clone(), second.document.clone()];
    let report = integrity::verify(&**client, &verifier, &kept)
        .await
        .expect("verify");
    assert!(report.intact, "{report:?}");
}

#[tokio::test]
async fn the_keys_commands_rotate_and_list_and_leave_environment_keys_to_the_operator() {
    let db = TestDatabase::migrated().await;
    let zekka = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"));
        command
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env_remove("REDIS_URL")
            .env_remove("ZEKKA_SIGNING_KEY");
        for (name, value) in env {
            command.env(name, value);
        }
        command.output()
    };
    let first = zekka(&["keys", "rotate"], &[])
        .await
        .expect("run zekka keys rotate");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: Value = serde_json::from_slice(&first.stdout).expect("a JSON rotation");
    let first_key = first["key_id"].as_str().expect("key id").to_owned();
    let rotated = zekka(&["keys", "rotate", "--publish-after", "600"], &[])
        .await
        .expect("run zekka keys rotate");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let rotation: Value = serde_json::from_slice(&rotated.stdout).expect("a JSON rotation");
    let new_key = rotation["key_id"].as_str().expect("key id").to_owned();

    let listed = zekka(&["keys", "list"], &[]).await.expect("run zekka keys list");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    let state_of = |id: &str| {
        listing
            .lines()
            .find(|line| line.contains(id))
            .and_then(|line| line.split_whitespace().next())
            .map(str::to_owned)
    };
    assert_eq!(state_of(&new_key).as_deref(), Some("next"), "{listing}");
    assert_eq!(
        state_of(&first_key).as_deref(),
        Some("signing"),
        "the first key signs at once, until the next one's time: {listing}"
    );

    let pool = db.sqlx_pool().await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM signing_keys")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    let stored = count().await;
    let (secret, _) = zekka_platform::tokens::generate_key_pair().expect("key pair");
    let from_env = zekka(&["keys", "rotate"], &[("ZEKKA_SIGNING_KEY", &secret)])
        .await
        .expect("run zekka keys rotate");
    assert!(from_env.status.success());
    let steps = String::from_utf8_lossy(&from_env.stdout);
    assert!(
        steps.contains("k4.secret.") && steps.contains("ZEKKA_PUBLIC_KEY"),
        "{steps}"
    );
    assert_eq!(count().await, stored, "environment keys are not stored");
}
