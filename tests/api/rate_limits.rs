//! Rate limits: 429 with Retry-After and RateLimit-* headers, per client
//! address, shared through Redis, in-process without it.

use std::net::SocketAddr;

use serde_json::json;
use zekka::Services;
use zekka_platform::shutdown::ShutdownTrigger;

use crate::support::app::start_service;
use crate::support::app::{redis_prefix, test_config_with};
use crate::support::http::{self, Response};
use crate::support::{TestDatabase, spawn_app_with};

async fn register(addr: SocketAddr, n: usize) -> Response {
    let body = json!({
        "email": format!("limited-{n}-{}@example.com", uuid::Uuid::new_v4().simple()),
        "password": "correct horse battery",
        "display_name": "Limited",
    });
    let body = serde_json::to_vec(&body).expect("json");
    http::send(
        addr,
        "POST",
        "/api/v1/auth/register",
        &[("Content-Type", "application/json")],
        Some(&body),
    )
    .await
    .expect("send")
}

fn assert_limited(response: &Response, limit: &str) {
    response.assert_problem(429);
    let retry: u64 = response
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(response.header("ratelimit-limit"), Some(limit));
    assert_eq!(response.header("ratelimit-remaining"), Some("0"));
    assert!(response.header("ratelimit-reset").is_some());
}

#[tokio::test]
async fn registrations_past_the_limit_get_429_in_process_without_redis() {
    let app = spawn_app_with(&[("REDIS_URL", ""), ("RATE_LIMIT_REGISTER", "3/60")]).await;
    for n in 0..3 {
        assert_eq!(register(app.addr, n).await.status, 201);
    }
    assert_limited(&register(app.addr, 3).await, "3");
}

#[tokio::test]
async fn the_multiplier_scales_every_limit() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_REGISTER", "2/60"),
        ("ZEKKA_RATE_LIMIT_MULTIPLIER", "2"),
    ])
    .await;
    for n in 0..4 {
        assert_eq!(register(app.addr, n).await.status, 201);
    }
    assert_limited(&register(app.addr, 4).await, "4");
}

async fn start(db: &TestDatabase, prefix: &str) -> (SocketAddr, ShutdownTrigger) {
    let config = test_config_with(
        &db.url,
        &[("REDIS_PREFIX", prefix), ("RATE_LIMIT_REGISTER", "4/60")],
    );
    start_service(config, Services::All).await
}

#[tokio::test]
async fn two_processes_share_one_limit_through_redis() {
    let db = TestDatabase::migrated().await;
    let prefix = redis_prefix();
    let (first, _a) = start(&db, &prefix).await;
    let (second, _b) = start(&db, &prefix).await;
    assert_eq!(register(first, 0).await.status, 201);
    assert_eq!(register(second, 1).await.status, 201);
    assert_eq!(register(first, 2).await.status, 201);
    assert_eq!(register(second, 3).await.status, 201);
    assert_limited(&register(first, 4).await, "4");
    assert_limited(&register(second, 5).await, "4");
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_address_but_successes_are_not_counted() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_LOGIN_FAILURES", "3/900"),
        ("LOGIN_LOCKOUT_THRESHOLD", "100"),
    ])
    .await;
    let user = app.user("ip-limited").await;
    for _ in 0..5 {
        assert_eq!(app.login(&user.email, "correct horse battery").await.status, 200);
    }
    for _ in 0..3 {
        app.login(&user.email, "wrong password!")
            .await
            .assert_problem(401);
    }
    assert_limited(&app.login(&user.email, "correct horse battery").await, "3");
}

#[tokio::test]
async fn writes_are_limited_per_user() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "2/60")]).await;
    let user = app.user("busy").await;
    let other = app.user("calm").await;
    for n in 0..2 {
        app.project(&user, &format!("P{n}")).await;
    }
    let refused = app
        .request(
            "POST",
            "/api/v1/projects",
            Some(&user.token),
            Some(&json!({"name": "P2"})),
        )
        .await;
    assert_limited(&refused, "2");
    app.project(&other, "Unaffected").await;
}
