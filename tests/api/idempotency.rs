//! `Idempotency-Key`: the same key and request answer the first response
//! and append nothing; another request under the key is refused; racing
//! requests with one key make one event.

use futures_util::future::join_all;
use serde_json::json;

use crate::support::http;
use crate::support::spawn_app;

/// `POST /api/v1/projects {name}` with `key`.
async fn create(addr: std::net::SocketAddr, token: &str, key: &str, name: &str) -> http::Response {
    let bearer = format!("Bearer {token}");
    let body = json!({"name": name}).to_string();
    http::send(
        addr,
        "POST",
        "/api/v1/projects",
        &[
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
            ("Idempotency-Key", key),
        ],
        Some(body.as_bytes()),
    )
    .await
    .expect("request")
}

#[tokio::test]
async fn a_repeated_request_with_its_key_gets_the_first_answer_and_appends_nothing() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let first = create(app.addr, &owner.token, "key-1", "Once").await;
    assert_eq!(first.status, 201, "{}", first.text());
    let events = app.event_count().await;
    let again = create(app.addr, &owner.token, "key-1", "Once").await;
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        again.header("x-consistency-token"),
        first.header("x-consistency-token")
    );
    assert_eq!(app.event_count().await, events, "a replay appended an event");

    // The same key for another request is refused and changes nothing.
    create(app.addr, &owner.token, "key-1", "Twice")
        .await
        .assert_problem(422);
    assert_eq!(app.event_count().await, events);

    // Keys are the user's own: another user's identical key is theirs.
    let other = app.user("other").await;
    let theirs = create(app.addr, &other.token, "key-1", "Once").await;
    assert_eq!(theirs.status, 201, "{}", theirs.text());
    assert_ne!(theirs.json()["id"], first.json()["id"]);
}

#[tokio::test]
async fn racing_requests_with_one_key_make_one_event() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let before = app.event_count().await;
    let answers = join_all((0..8).map(|_| create(app.addr, &owner.token, "race", "Raced"))).await;
    let ids: Vec<_> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 201, "{}", a.text());
            a.json()["id"].clone()
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    // One ProjectCreated, and nothing else.
    assert_eq!(app.event_count().await, before + 1);
    // And projected once: the owner's list holds the project once.
    let token = answers[0].json()["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let listed = app.get_consistent("/api/v1/projects", &owner.token, &token).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let raced = listed.json()["items"]
        .as_array()
        .map(|items| items.iter().filter(|p| p["name"] == "Raced").count());
    assert_eq!(raced, Some(1), "{}", listed.text());
}

/// Sends `method path body` with `headers` plus JSON and `Idempotency-Key: key`.
async fn keyed(
    app: &crate::support::app::TestApp,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    key: &str,
    body: &serde_json::Value,
) -> http::Response {
    let authorization = bearer.map(|b| format!("Bearer {b}"));
    let mut headers = vec![("Content-Type", "application/json"), ("Idempotency-Key", key)];
    if let Some(authorization) = &authorization {
        headers.push(("Authorization", authorization.as_str()));
    }
    let body = body.to_string();
    app.raw(method, path, &headers, Some(body.as_bytes())).await
}

/// Security review F6: keys belong to the authenticated principal, and a
/// replay is answered only to it, and only while its credentials hold.
#[tokio::test]
async fn keys_are_scoped_to_the_principal_and_replays_need_its_valid_credentials() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Keyed").await;
    let agent = app.agent(&owner, &project, "Locker").await;
    let issue = |scopes: serde_json::Value| {
        let path = format!("/api/v1/projects/{project}/api-keys");
        let token = owner.token.clone();
        let app = &app;
        async move {
            let created = app
                .request(
                    "POST",
                    &path,
                    Some(&token),
                    Some(&json!({"name": "k", "scopes": scopes})),
                )
                .await;
            assert_eq!(created.status, 201, "{}", created.text());
            created.json()["key"].as_str().expect("key").to_owned()
        }
    };
    let key_a = issue(json!(["locks:write", "usage:write"])).await;
    let key_b = issue(json!(["locks:write", "usage:write"])).await;
    let lock_path = format!("/api/v1/projects/{project}/locks");
    let body = json!({"file_path": "src/replay.rs", "agent_id": agent, "ttl_seconds": 60});

    // (a) An API key's answer is not replayed without credentials, nor to
    // another key: each is its own request.
    let first = keyed(&app, "POST", &lock_path, Some(&key_a), "lock-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text());
    keyed(&app, "POST", &lock_path, None, "lock-1", &body)
        .await
        .assert_problem(401);
    let other = keyed(&app, "POST", &lock_path, Some(&key_b), "lock-1", &body).await;
    assert_eq!(other.header("idempotent-replayed"), None, "{}", other.text());
    let replayed = keyed(&app, "POST", &lock_path, Some(&key_a), "lock-1", &body).await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));

    // (b) No one can claim a key value for someone else.
    let anonymous = keyed(
        &app,
        "POST",
        "/api/v1/auth/forgot-password",
        None,
        "usage-1",
        &json!({"email": "x@example.com"}),
    )
    .await;
    assert_eq!(anonymous.status, 202);
    let usage = keyed(
        &app,
        "POST",
        &format!("/api/v1/agents/{agent}/usage"),
        Some(&key_a),
        "usage-1",
        &json!({"model": "claude-sonnet", "input_tokens": 1, "output_tokens": 1}),
    )
    .await;
    assert_eq!(usage.status, 201, "{}", usage.text());

    // (d) A logged-out token replays nothing.
    let created = create(app.addr, &owner.token, "project-1", "Idem").await;
    assert_eq!(created.status, 201);
    let logout = app
        .raw(
            "POST",
            "/api/v1/auth/logout",
            &[("Authorization", &format!("Bearer {}", owner.token))],
            None,
        )
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    create(app.addr, &owner.token, "project-1", "Idem")
        .await
        .assert_problem(401);
}

/// Security review F6 (c, e): the answers of sign-in and refresh carry
/// tokens, so they are never kept: a refresh token used twice is reuse
/// whatever the Idempotency-Key, and no token sits in the database.
#[tokio::test]
async fn answers_carrying_tokens_are_never_kept_and_refresh_reuse_is_caught() {
    let app = spawn_app().await;
    let user = app.user("refresher").await;
    let login = keyed(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        "login-1",
        &json!({"email": user.email, "password": crate::support::app::PASSWORD}),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let refresh = login.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let path = "/api/v1/auth/refresh-token";
    let client = keyed(&app, "POST", path, None, "r1", &json!({"refresh_token": refresh})).await;
    assert_eq!(client.status, 200, "{}", client.text());
    let rotated = client.json()["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    // A thief with the old token and the same key: reuse, the family ends.
    keyed(&app, "POST", path, None, "r1", &json!({"refresh_token": refresh}))
        .await
        .assert_problem(401);
    app.request("POST", path, None, Some(&json!({"refresh_token": rotated})))
        .await
        .assert_problem(401);
    let kept: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM idempotency_keys
              WHERE position('zkr_'::bytea IN coalesce(body, ''::bytea)) > 0
                 OR position('v4.public.'::bytea IN coalesce(body, ''::bytea)) > 0",
            &[],
        )
        .await
        .expect("idempotency keys")
        .get(0);
    assert_eq!(kept, 0, "a token is stored with an idempotency key");
}
