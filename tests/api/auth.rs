//! Registration, sign-in and token checks.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_registered_user_signs_in_and_reads_their_account() {
    let app = spawn_app().await;
    let registered = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&json!({"email": " Ada@Example.com ", "password": "correct horse battery", "display_name": "Ada"})),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let consistency = registered.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let login = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": "ada@example.com", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let session = login.json();
    assert_eq!(session["expires_in"], 900);
    assert_eq!(session["user_id"], registered.json()["user_id"]);
    let token = session["access_token"].as_str().expect("access token");
    assert!(token.starts_with("v4.public."), "{token}");

    let me = app.get_consistent("/api/v1/users/me", token, &consistency).await;
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["display_name"], "Ada");
    assert_eq!(me["email_verified"], false);
}

#[tokio::test]
async fn a_wrong_password_or_unknown_email_gets_the_same_401() {
    let app = spawn_app().await;
    let user = app.user("bob").await;
    let wrong = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": user.email, "password": "not the password"})),
        )
        .await;
    let unknown = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": "nobody@example.com", "password": "not the password"})),
        )
        .await;
    let wrong = wrong.assert_problem(401);
    let unknown = unknown.assert_problem(401);
    assert_eq!(wrong["detail"], unknown["detail"]);
}

#[tokio::test]
async fn an_email_registers_once_even_under_concurrent_registrations() {
    let app = spawn_app().await;
    let body =
        json!({"email": "race@example.com", "password": "correct horse battery", "display_name": "Racer"});
    let attempts = (0..6).map(|_| app.request("POST", "/api/v1/auth/register", None, Some(&body)));
    let responses = futures_util::future::join_all(attempts).await;
    let created = responses.iter().filter(|r| r.status == 201).count();
    let conflicts = responses.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        (created, conflicts),
        (1, 5),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for conflict in responses.iter().filter(|r| r.status == 409) {
        conflict.assert_problem(409);
    }
    let registered: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'UserRegistered'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(registered, 1);
}

#[tokio::test]
async fn a_short_password_is_rejected_with_the_field_named() {
    let app = spawn_app().await;
    let response = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&json!({"email": "short@example.com", "password": "short", "display_name": "S"})),
        )
        .await;
    let problem = response.assert_problem(422);
    assert_eq!(problem["errors"][0]["field"], "password");
    let users: i64 = app
        .db
        .connect()
        .await
        .query_one("SELECT count(*) FROM events WHERE aggregate_type = 'User'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(users, 0, "no account was created");
}

#[tokio::test]
async fn requests_without_a_token_or_with_a_tampered_one_get_401_problems() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let (project, _) = app.project(&user, "Secret").await;
    let path = format!("/api/v1/projects/{project}");

    app.request("GET", &path, None, None).await.assert_problem(401);
    app.request("GET", "/api/v1/projects", None, None)
        .await
        .assert_problem(401);
    app.request("POST", "/api/v1/projects", None, Some(&json!({"name": "x"})))
        .await
        .assert_problem(401);

    let mut tampered = user.token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    app.request("GET", &path, Some(&tampered), None)
        .await
        .assert_problem(401);
    app.request("GET", &path, Some("v4.public.garbage"), None)
        .await
        .assert_problem(401);
    app.request("PUT", &path, Some(&tampered), Some(&json!({"name": "Mine"})))
        .await
        .assert_problem(401);
}

/// Security review F14: a bare `POST /auth/logout` (no body, no
/// Content-Type) signs out; the session does not live on.
#[tokio::test]
async fn a_bare_logout_without_a_body_or_content_type_ends_the_session() {
    let app = spawn_app().await;
    let user = app.user("leaving").await;
    let bearer = format!("Bearer {}", user.token);
    let logout = app
        .raw("POST", "/api/v1/auth/logout", &[("Authorization", &bearer)], None)
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    app.request("GET", "/api/v1/users/me", Some(&user.token), None)
        .await
        .assert_problem(401);
    app.request(
        "POST",
        "/api/v1/auth/refresh-token",
        None,
        Some(&serde_json::json!({"refresh_token": user.refresh_token})),
    )
    .await
    .assert_problem(401);
}
