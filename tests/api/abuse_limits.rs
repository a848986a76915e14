//! Limits that keep one hostile client from taking the server down: body
//! size, JSON nesting, page size and request time. (Concurrent argon2
//! hashes are capped in `platform::password`, WebSocket messages in
//! `realtime`; each has its test there.)

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let app = spawn_app().await;
    let owner = app.user("bigbody").await;
    let before = app.event_count().await;
    let bearer = format!("Bearer {}", owner.token);
    let name = "x".repeat(1024 * 1024 + 10);
    let body = json!({"name": name}).to_string().into_bytes();
    let declared = app
        .raw(
            "POST",
            "/api/v1/projects",
            &[("Authorization", &bearer), ("Content-Type", "application/json")],
            Some(&body),
        )
        .await;
    assert_eq!(declared.status, 413, "{}", declared.text());
    declared.assert_problem(413);
    assert_eq!(app.event_count().await, before, "nothing was appended");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let owner = app.user("nester").await;
    let bearer = format!("Bearer {}", owner.token);
    let depth = 100_000;
    let nested = format!("{{\"name\": {}1{}}}", "[".repeat(depth), "]".repeat(depth));
    let answer = app
        .raw(
            "POST",
            "/api/v1/projects",
            &[("Authorization", &bearer), ("Content-Type", "application/json")],
            Some(nested.as_bytes()),
        )
        .await;
    assert!(
        matches!(answer.status, 400 | 422),
        "refused as bad input, not a crash: {} {}",
        answer.status,
        answer.text()
    );
    answer.assert_problem(answer.status);
    let alive = app.request("GET", "/healthz", None, None).await;
    assert_eq!(alive.status, 200, "the server survived");
}

#[tokio::test]
async fn a_page_never_holds_more_than_200_items_whatever_limit_is_asked() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60")]).await;
    let owner = app.user("pager").await;
    let mut last = String::new();
    for n in 0..205 {
        last = app.project(&owner, &format!("P{n}")).await.1;
    }
    let page = app
        .get_consistent("/api/v1/projects?limit=1000000", &owner.token, &last)
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
    let body = page.json();
    let items = body["items"].as_array().map_or(0, Vec::len);
    assert_eq!(items, 200, "capped at 200");
    assert!(
        body["next_cursor"].is_string(),
        "and the rest is one cursor away: {body}"
    );
}

#[tokio::test]
async fn a_request_past_the_time_limit_is_answered_503_with_retry_after() {
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECONDS", "1"), ("CONSISTENCY_WAIT_MS", "10000")]).await;
    let owner = app.user("patient").await;
    // The projects model stops at a poison event, so the read of a project
    // made after it waits (up to 10 s here) for a token it never reaches,
    // which the 1 s request limit cuts short.
    app.append_poison("Project").await;
    let (project, token) = app.project(&owner, "Slow").await;
    let started = Instant::now();
    let answer = app
        .get_consistent(&format!("/api/v1/projects/{project}"), &owner.token, &token)
        .await;
    let waited = started.elapsed();
    assert_eq!(answer.status, 503, "{}", answer.text());
    answer.assert_problem(503);
    assert!(answer.header("retry-after").is_some(), "says when to retry");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(8),
        "cut at the 1 s request limit, not at the 10 s wait: {waited:?}"
    );
}
