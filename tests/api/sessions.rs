//! Sessions: refresh rotation, reuse detection, logout.

use serde_json::json;
use zekka::Services;

use crate::support::app::start_service;
use crate::support::app::{redis_prefix, test_config_with};
use crate::support::http;
use crate::support::{TestDatabase, spawn_app};

#[tokio::test]
async fn a_refresh_rotates_the_pair_and_replaying_the_old_token_revokes_the_family() {
    let app = spawn_app().await;
    let user = app.user("rotator").await;

    let first = app
        .request(
            "POST",
            "/api/v1/auth/refresh-token",
            None,
            Some(&json!({"refresh_token": user.refresh_token})),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let rotated = first.json();
    let newest_refresh = rotated["refresh_token"].as_str().expect("refresh").to_owned();
    let newest_access = rotated["access_token"].as_str().expect("access").to_owned();
    assert_ne!(newest_refresh, user.refresh_token);
    assert_eq!(
        app.request("GET", "/api/v1/projects", Some(&newest_access), None)
            .await
            .status,
        200
    );

    // The old token again: reuse. 401, and the whole family dies.
    app.request(
        "POST",
        "/api/v1/auth/refresh-token",
        None,
        Some(&json!({"refresh_token": user.refresh_token})),
    )
    .await
    .assert_problem(401);
    app.request(
        "POST",
        "/api/v1/auth/refresh-token",
        None,
        Some(&json!({"refresh_token": newest_refresh})),
    )
    .await
    .assert_problem(401);
    app.request("GET", "/api/v1/projects", Some(&newest_access), None)
        .await
        .assert_problem(401);

    let events: Vec<String> = app
        .db
        .connect()
        .await
        .query(
            "SELECT event_type FROM events WHERE aggregate_type = 'Session' ORDER BY global_position",
            &[],
        )
        .await
        .expect("session events")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(events, ["SessionStarted", "SessionRefreshed", "SessionRevoked"]);
}

#[tokio::test]
async fn garbage_and_forged_refresh_tokens_are_401() {
    let app = spawn_app().await;
    let user = app.user("forger").await;
    let forged = format!(
        "{}{}",
        &user.refresh_token[..user.refresh_token.len() - 4],
        "beef"
    );
    for token in ["", "nope", "zkr_x_y", forged.as_str()] {
        app.request(
            "POST",
            "/api/v1/auth/refresh-token",
            None,
            Some(&json!({"refresh_token": token})),
        )
        .await
        .assert_problem(401);
    }
    // A forged token is not reuse: the real one still works.
    let real = app
        .request(
            "POST",
            "/api/v1/auth/refresh-token",
            None,
            Some(&json!({"refresh_token": user.refresh_token})),
        )
        .await;
    assert_eq!(real.status, 200, "{}", real.text());
}

#[tokio::test]
async fn after_logout_the_access_token_is_refused_by_both_apis_and_the_refresh_token_is_dead() {
    let db = TestDatabase::migrated().await;
    let prefix = redis_prefix();
    let (commands, _c) = start_service(
        test_config_with(&db.url, &[("REDIS_PREFIX", &prefix)]),
        Services::CommandApi,
    )
    .await;
    let (queries, _q) = start_service(
        test_config_with(&db.url, &[("REDIS_PREFIX", &prefix)]),
        Services::QueryApi,
    )
    .await;
    let credentials = json!({"email": "leaver@example.com", "password": "correct horse battery"});
    let mut register = credentials.clone();
    register["display_name"] = json!("Leaver");
    assert_eq!(
        http::json_request(commands, "POST", "/api/v1/auth/register", None, Some(&register))
            .await
            .status,
        201
    );
    let session = http::json_request(commands, "POST", "/api/v1/auth/login", None, Some(&credentials))
        .await
        .json();
    let access = session["access_token"].as_str().expect("access").to_owned();
    let refresh = session["refresh_token"].as_str().expect("refresh").to_owned();
    let bearer = format!("Bearer {access}");
    let auth = [("Authorization", bearer.as_str())];
    let list = || http::send(queries, "GET", "/api/v1/projects", &auth, None);
    assert_eq!(list().await.expect("send").status, 200);

    let logout = http::json_request(
        commands,
        "POST",
        "/api/v1/auth/logout",
        Some(&access),
        Some(&json!({})),
    )
    .await;
    assert_eq!(logout.status, 204, "{}", logout.text());

    // The deny-list is in Redis, shared by both processes: no waiting needed.
    list().await.expect("send").assert_problem(401);
    http::json_request(
        commands,
        "POST",
        "/api/v1/projects",
        Some(&access),
        Some(&json!({"name": "After"})),
    )
    .await
    .assert_problem(401);
    http::json_request(
        commands,
        "POST",
        "/api/v1/auth/refresh-token",
        None,
        Some(&json!({"refresh_token": refresh})),
    )
    .await
    .assert_problem(401);
}

#[tokio::test]
async fn logout_with_an_empty_body_works_and_keeps_other_sessions() {
    let app = spawn_app().await;
    let user = app.user("two-devices").await;
    let second = app.login(&user.email, "correct horse battery").await.json();
    let other_access = second["access_token"].as_str().expect("access").to_owned();

    let bearer = format!("Bearer {}", user.token);
    let logout = app
        .raw(
            "POST",
            "/api/v1/auth/logout",
            &[("Authorization", &bearer), ("Content-Type", "application/json")],
            None,
        )
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    app.request("GET", "/api/v1/projects", Some(&user.token), None)
        .await
        .assert_problem(401);
    assert_eq!(
        app.request("GET", "/api/v1/projects", Some(&other_access), None)
            .await
            .status,
        200,
        "another session of the same user stays signed in"
    );
}

/// Security review F17: a session ends `SESSION_MAX_AGE` after its sign-in
/// however often it is refreshed, and no refresh token outlives it.
#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
    let app = crate::support::spawn_app_with(&[("SESSION_MAX_AGE", "2")]).await;
    let user = app.user("long-lived").await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.request(
                "POST",
                "/api/v1/auth/refresh-token",
                None,
                Some(&serde_json::json!({"refresh_token": token})),
            )
            .await
        }
    };
    let first = refresh(user.refresh_token.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let next = first.json()["refresh_token"].as_str().expect("token").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    refresh(next).await.assert_problem(401);
}

/// Security review F17: Redis keeps nothing on disk, so a restart forgets
/// the deny-lists; the next check rebuilds them from the event store, and
/// a logged-out token or one issued before a password reset stays refused.
#[tokio::test]
async fn revocations_survive_redis_forgetting_them() {
    let prefix = redis_prefix();
    let app = crate::support::spawn_app_with(&[("REDIS_PREFIX", &prefix)]).await;
    let left = app.user("left").await;
    let reset = app.user("reset").await;
    let bearer = format!("Bearer {}", left.token);
    let logout = app
        .raw("POST", "/api/v1/auth/logout", &[("Authorization", &bearer)], None)
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    app.request(
        "POST",
        "/api/v1/auth/forgot-password",
        None,
        Some(&json!({"email": reset.email})),
    )
    .await;
    let token = crate::support::app::token_in(&app.mail(&reset.email, "password_reset").await);
    let done = app
        .request(
            "POST",
            "/api/v1/auth/reset-password",
            None,
            Some(&json!({"token": token, "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text());
    for user in [&left, &reset] {
        app.request("GET", "/api/v1/projects", Some(&user.token), None)
            .await
            .assert_problem(401);
    }

    crate::support::redis::forget_prefix(&crate::support::app::redis_url(), &prefix).await;

    for user in [&left, &reset] {
        app.request("GET", "/api/v1/projects", Some(&user.token), None)
            .await
            .assert_problem(401);
    }
    let fresh = app.user("fresh").await;
    assert_eq!(
        app.request("GET", "/api/v1/projects", Some(&fresh.token), None)
            .await
            .status,
        200
    );
}
