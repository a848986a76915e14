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
