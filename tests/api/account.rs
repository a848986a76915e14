//! Password reset and email verification through the mail outbox.

use serde_json::json;

use crate::support::app::{PASSWORD, token_in};
use crate::support::spawn_app;

/// The token in a mailed link (`…?token=<token>`).

#[tokio::test]
async fn a_reset_token_from_the_outbox_works_once_and_ends_every_session() {
    let app = spawn_app().await;
    let user = app.user("forgetful").await;

    let asked = app
        .request(
            "POST",
            "/api/v1/auth/forgot-password",
            None,
            Some(&json!({"email": user.email})),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text());
    let unknown = app
        .request(
            "POST",
            "/api/v1/auth/forgot-password",
            None,
            Some(&json!({"email": "who@example.com"})),
        )
        .await;
    assert_eq!(
        unknown.status, 202,
        "the same answer whether or not the email exists"
    );

    let token = token_in(&app.mail(&user.email, "password_reset").await);
    let stored: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'",
            &[&token.rsplit('_').next().expect("secret")],
        )
        .await
        .expect("search")
        .get(0);
    assert_eq!(stored, 0, "the token itself is never stored in an event");

    let new_password = "a brand new passphrase";
    let reset = app
        .request(
            "POST",
            "/api/v1/auth/reset-password",
            None,
            Some(&json!({"token": token, "new_password": new_password})),
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.text());

    app.request(
        "POST",
        "/api/v1/auth/reset-password",
        None,
        Some(&json!({"token": token, "new_password": "yet another passphrase"})),
    )
    .await
    .assert_problem(410);
    app.request(
        "POST",
        "/api/v1/auth/reset-password",
        None,
        Some(&json!({"token": "zkp_garbage", "new_password": "yet another passphrase"})),
    )
    .await
    .assert_problem(400);

    app.request("GET", "/api/v1/projects", Some(&user.token), None)
        .await
        .assert_problem(401);
    app.request(
        "POST",
        "/api/v1/auth/refresh-token",
        None,
        Some(&json!({"refresh_token": user.refresh_token})),
    )
    .await
    .assert_problem(401);
    app.login(&user.email, PASSWORD).await.assert_problem(401);
    let fresh = app.login(&user.email, new_password).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text());
    let token = fresh.json()["access_token"].as_str().expect("token").to_owned();
    assert_eq!(
        app.request("GET", "/api/v1/projects", Some(&token), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_verification_mail_confirms_the_address() {
    let app = spawn_app().await;
    let user = app.user("verifier").await;
    let token = token_in(&app.mail(&user.email, "email_verification").await);
    let verified = app
        .request(
            "POST",
            "/api/v1/auth/verify-email",
            None,
            Some(&json!({"token": token})),
        )
        .await;
    assert_eq!(verified.status, 204, "{}", verified.text());
    let consistency = verified.header("x-consistency-token").expect("token").to_owned();
    let me = app
        .get_consistent("/api/v1/users/me", &user.token, &consistency)
        .await
        .json();
    assert_eq!(me["email_verified"], true);
    app.request(
        "POST",
        "/api/v1/auth/verify-email",
        None,
        Some(&json!({"token": token})),
    )
    .await
    .assert_problem(410);
}

/// The system roles `GET /users/me` reports for `token` (polling until the
/// `users` read model has the account).
async fn roles_of(app: &crate::support::app::TestApp, token: &str) -> serde_json::Value {
    for _ in 0..250 {
        let me = app.request("GET", "/api/v1/users/me", Some(token), None).await;
        if me.status == 200 {
            return me.json()["roles"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the account never reached the users read model");
}

/// Security review F8: system roles never come from an unverified email,
/// and being first is no role at all.
#[tokio::test]
async fn a_listed_email_becomes_admin_only_once_verified_and_the_first_account_is_no_admin() {
    let app = spawn_app().await;
    let first = app.user("first").await;
    assert_eq!(roles_of(&app, &first.token).await, json!([]));
    // Someone registers a listed address before its owner does: no role.
    let squatter = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&json!({"email": "admin@zekka.test", "password": "correct horse battery", "display_name": "Not the admin"})),
        )
        .await;
    assert_eq!(squatter.status, 201, "{}", squatter.text());
    let signed_in = app.login("admin@zekka.test", "correct horse battery").await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let token = signed_in.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(roles_of(&app, &token).await, json!([]));
    app.request(
        "PUT",
        "/api/v1/pricing/models/probe-model",
        Some(&token),
        Some(&json!({"input_usd_per_million": "1", "output_usd_per_million": "1"})),
    )
    .await
    .assert_problem(403);
    // Verified (the mailbox's owner clicked the link): admin.
    let verified = app.admin("operator").await;
    assert_eq!(roles_of(&app, &verified.token).await, json!(["admin"]));
}

/// `zekka users grant-role` is the operator's way to make an admin or an
/// auditor: recorded as an event, in effect at the next sign-in.
#[tokio::test]
async fn an_operator_grants_and_revokes_a_system_role_from_the_command_line() {
    let app = spawn_app().await;
    let person = app.user("promoted").await;
    let zekka = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
            .args(args)
            .env("DATABASE_URL", &app.db.url)
            .env("REDIS_URL", crate::support::app::redis_url())
            .env("USER", "test-operator")
            .output()
            .expect("run zekka")
    };
    let granted = zekka(&["users", "grant-role", &person.email, "auditor"]);
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    let again = app.login(&person.email, "correct horse battery").await.json();
    let token = again["access_token"].as_str().expect("token");
    assert_eq!(
        crate::support::http::claims_roles(token),
        vec!["auditor".to_owned()]
    );
    let client = app.db.connect().await;
    let recorded: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE aggregate_type = 'User' AND aggregate_id = $1
                AND event_type = 'SystemRoleGranted' AND metadata ->> 'command' = 'GrantSystemRole'",
            &[&person.id],
        )
        .await
        .expect("events")
        .get(0);
    assert_eq!(recorded, 1);
    let unknown = zekka(&["users", "grant-role", "nobody@example.com", "admin"]);
    assert!(!unknown.status.success());
    let bad_role = zekka(&["users", "grant-role", &person.email, "emperor"]);
    assert!(!bad_role.status.success());
    let revoked = zekka(&["users", "revoke-role", &person.email, "auditor"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let after = app.login(&person.email, "correct horse battery").await.json();
    assert!(crate::support::http::claims_roles(after["access_token"].as_str().expect("token")).is_empty());
}
