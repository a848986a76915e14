//! Redis stopped and started again: sign-in goes on without rate limits,
//! authenticated requests are refused (revocation cannot be checked: fail
//! closed), and both recover by themselves.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::ONE_FAULT_AT_A_TIME;
use crate::support::app::PASSWORD;
use crate::support::spawn_app;

fn redis_cli(args: &[&str]) -> bool {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379"])
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("ERR"))
}

fn redis_answers() -> bool {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "ping"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "PONG")
}

/// Starts Redis as `.ci/run` does.
fn start_redis() {
    let status = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .status()
        .expect("redis-server runs");
    assert!(status.success(), "redis-server failed to start");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !redis_answers() {
        assert!(Instant::now() < deadline, "Redis did not come back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Restarts Redis if the test fails half-way, so later tests find it.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if !redis_answers() {
            start_redis();
        }
    }
}

#[tokio::test]
async fn redis_down_sign_in_goes_on_authenticated_requests_fail_closed_and_both_recover() {
    let _alone = ONE_FAULT_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Through a Redis outage").await;
    let read = format!("/api/v1/projects/{project}");
    let before = app.event_count().await;

    let _restart = RestartOnDrop;
    // `shutdown` closes the connection before answering: no success status.
    let _ = redis_cli(&["shutdown", "nosave"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis_answers() {
        assert!(Instant::now() < deadline, "Redis did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Authenticated: refused quickly with 503, never let through unchecked.
    let started = Instant::now();
    let refused = app
        .request(
            "POST",
            "/api/v1/projects",
            Some(&owner.token),
            Some(&json!({"name": "Not now"})),
        )
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    refused.assert_problem(503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once, not after the request limit: {:?}",
        started.elapsed()
    );
    let refused_read = app.request("GET", &read, Some(&owner.token), None).await;
    assert_eq!(refused_read.status, 503, "{}", refused_read.text());
    // Readiness says why; liveness is unaffected.
    assert_eq!(app.request("GET", "/readyz", None, None).await.status, 503);
    assert_eq!(app.request("GET", "/healthz", None, None).await.status, 200);
    // Sign-in does not need Redis (its limits are not enforced meanwhile).
    let login = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": owner.email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());

    start_redis();
    // Recovers by itself: the same token works again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = app.request("GET", &read, Some(&owner.token), None).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert!(Instant::now() < deadline, "did not recover within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let created = app
        .request(
            "POST",
            "/api/v1/projects",
            Some(&owner.token),
            Some(&json!({"name": "After"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    // Accepted = stored: the refused write appended nothing, the accepted one did.
    let client = app.db.connect().await;
    let projects: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Project' AND event_type = 'ProjectCreated'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(projects, 2, "the first project and the one after the outage");
    assert!(app.event_count().await > before);
}

/// Locks `file_path` for `agent`; returns the answer's body.
async fn lock(
    app: &crate::support::app::TestApp,
    token: &str,
    project: &str,
    agent: &str,
) -> serde_json::Value {
    let taken = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/locks"),
            Some(token),
            Some(&json!({"file_path": "src/main.rs", "agent_id": agent})),
        )
        .await;
    assert_eq!(taken.status, 201, "{}", taken.text());
    taken.json()
}

#[tokio::test]
async fn fencing_tokens_keep_increasing_across_a_redis_restart() {
    let _alone = ONE_FAULT_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Fenced").await;
    let agent = app.agent(&owner, &project, "a").await;
    let release = |lock: serde_json::Value| {
        let path = format!(
            "/api/v1/projects/{project}/locks/{}",
            lock["lock_id"].as_str().unwrap_or_default()
        );
        let token = owner.token.clone();
        let app = &app;
        async move {
            let released = app.request("DELETE", &path, Some(&token), None).await;
            assert_eq!(released.status, 204, "{}", released.text());
        }
    };
    let first = lock(&app, &owner.token, &project, &agent).await;
    release(first.clone()).await;
    let second = lock(&app, &owner.token, &project, &agent).await;
    release(second.clone()).await;

    // Redis keeps nothing on disk: the counter is gone after a restart.
    let _restart = RestartOnDrop;
    let _ = redis_cli(&["shutdown", "nosave"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis_answers() {
        assert!(Instant::now() < deadline, "Redis did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    start_redis();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .request("GET", "/api/v1/users/me", Some(&owner.token), None)
        .await
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "did not recover within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Counting goes on above every token recorded for the file.
    let third = lock(&app, &owner.token, &project, &agent).await;
    let tokens: Vec<i64> = [&first, &second, &third]
        .iter()
        .filter_map(|lock| lock["fencing_token"].as_i64())
        .collect();
    assert!(tokens.windows(2).all(|pair| pair[0] < pair[1]), "{tokens:?}");
}
