//! The `zekka` binary itself: `zekka up` creates its database, answers
//! `/readyz`, and stops cleanly on SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use crate::support::TestDatabase;
use crate::support::http;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `zekka up` as its own process on a database it must create, without
/// Redis; returns once `/readyz` answers 200.
pub(crate) async fn zekka_up(db: &TestDatabase) -> (tokio::process::Child, SocketAddr) {
    zekka_up_with(db, &[]).await
}

/// [`zekka_up`] with more settings in its environment.
pub(crate) async fn zekka_up_with(
    db: &TestDatabase,
    settings: &[(&str, &str)],
) -> (tokio::process::Child, SocketAddr) {
    let port = free_port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
        .arg("up")
        .envs(settings.iter().copied())
        .env("DATABASE_URL", &db.url)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start zekka up");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = http::send(addr, "GET", "/readyz", &[], None).await
            && response.status == 200
        {
            assert_eq!(response.text(), "ready");
            return (child, addr);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "zekka up never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn zekka_up_creates_its_database_serves_readyz_and_stops_on_sigterm() {
    let db = TestDatabase::not_created();
    let (mut child, addr) = zekka_up(&db).await;
    let health = http::send(addr, "GET", "/healthz", &[], None)
        .await
        .expect("healthz");
    assert_eq!(health.status, 200);
    let spec = http::send(addr, "GET", "/openapi.json", &[], None)
        .await
        .expect("spec");
    assert_eq!(spec.status, 200);
    assert!(spec.json()["paths"]["/api/v1/projects/{id}"].is_object());
    let metrics = http::send(addr, "GET", "/metrics", &[], None)
        .await
        .expect("metrics");
    assert!(
        metrics.text().contains("zekka_http_requests_total"),
        "{}",
        metrics.text()
    );
    // The runtime probe runs in the served process: its wake-ups are counted.
    let mut wakeups = 0;
    for _ in 0..50 {
        let metrics = http::send(addr, "GET", "/metrics", &[], None)
            .await
            .expect("metrics");
        wakeups = metrics
            .text()
            .lines()
            .find_map(|line| line.strip_prefix("zekka_runtime_wakeup_delay_seconds_count "))
            .and_then(|count| count.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if wakeups > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(wakeups > 0, "the runtime probe recorded no wake-up");

    let pid = child.id().expect("pid").to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("send SIGTERM");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("zekka stops within 20 s of SIGTERM")
        .expect("exit status");
    assert!(status.success(), "zekka exited with {status}");
}

#[tokio::test]
async fn zekka_demo_fills_zekka_up_and_the_analytics_routes_then_answer_non_empty() {
    let db = TestDatabase::not_created();
    // A short lease: the demo lets one lapse.
    let (_server, addr) = zekka_up_with(&db, &[("EXECUTION_LEASE_MS", "2000")]).await;
    let demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
        .args(["demo", "--url", &format!("http://{addr}")])
        .output()
        .await
        .expect("run zekka demo");
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success(),
        "zekka demo failed: {stdout}{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let expected_steps = format!("{} steps", zekka::demo::planned_steps());
    assert!(stdout.contains(&expected_steps), "{stdout}");

    let login = http::json_request(
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&serde_json::json!({"email": "ada.lovelace@example.com", "password": "zekka demo passphrase"})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let token = login.json()["access_token"].as_str().expect("token").to_owned();
    let get = |path: &'static str| {
        let token = token.clone();
        async move {
            // The demo's writes reach the read models within moments.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                let answer = http::json_request(addr, "GET", path, Some(&token), None).await;
                assert_eq!(answer.status, 200, "{path}: {}", answer.text());
                let body = answer.json();
                let filled = match body.get("items") {
                    Some(items) => items.as_array().is_some_and(|i| !i.is_empty()),
                    None => body["conflict_auto_resolution_rate"].is_string(),
                };
                if filled {
                    return body;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{path} stayed empty: {body}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // Each read model catches up on its own: the totals are complete once
    // the projects projection, too, has applied the demo.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let metrics = get("/api/v1/analytics/metrics").await;
        if metrics["projects"] == 3 || tokio::time::Instant::now() >= deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(metrics["projects"], 3, "{metrics}");
    assert!(metrics["messages"].as_i64() > Some(10), "{metrics}");
    assert_ne!(metrics["cost_usd"], "0.000000", "{metrics}");
    for path in [
        "/api/v1/analytics/costs",
        "/api/v1/analytics/costs/breakdown",
        "/api/v1/analytics/tokens",
        "/api/v1/analytics/agents",
        "/api/v1/analytics/tasks",
        "/api/v1/analytics/costs/repriced",
        "/api/v1/conflicts",
        "/api/v1/projects",
    ] {
        get(path).await;
    }
    // The marketing site's small budget ran out, and its copywriter fell
    // back to the cheapest model the refusal named; nothing was overspent.
    let projects = get("/api/v1/projects").await;
    let marketing = projects["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["name"] == "Marketing site")
        .expect("the marketing project")
        .clone();
    let spent: rust_decimal::Decimal = marketing["spent_usd"]
        .as_str()
        .expect("spent")
        .parse()
        .expect("decimal");
    let budget: rust_decimal::Decimal = marketing["budget_usd"]
        .as_str()
        .expect("budget")
        .parse()
        .expect("decimal");
    assert!(spent <= budget, "{marketing}");
    let path = format!(
        "/api/v1/analytics/costs/breakdown?project_id={}",
        marketing["id"].as_str().expect("id")
    );
    // The usage model catches up on its own too: wait for both models.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let breakdown = http::json_request(addr, "GET", &path, Some(&token), None)
            .await
            .json();
        let models: Vec<&str> = breakdown["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|i| i["model"].as_str()).collect())
            .unwrap_or_default();
        if models.contains(&"claude-sonnet") && models.contains(&"llama3.1:8b") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{breakdown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The executed project went through every stage, with one lapsed
    // lease and one model switch on the record.
    let autopilot = projects["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["name"] == "Autopilot")
        .expect("the executed project")
        .clone();
    let id = autopilot["id"].as_str().expect("id");
    let run = http::json_request(
        addr,
        "GET",
        &format!("/api/v1/projects/{id}/execution"),
        Some(&token),
        None,
    )
    .await
    .json();
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["stage"], "quality_assurance", "{run}");
    assert_eq!(run["tasks"]["done"], 3, "{run}");
    for (event_type, expected) in [
        ("TaskLeaseLapsed", 1),
        ("ModelSwitched", 1),
        ("ConflictEscalated", 2),
    ] {
        let listed = http::json_request(
            addr,
            "GET",
            &format!("/api/v1/audit/events?event_type={event_type}&limit=50"),
            Some(&token),
            None,
        )
        .await
        .json();
        let found = listed["items"].as_array().map_or(0, Vec::len);
        assert_eq!(found, expected, "{event_type}: {listed}");
    }
}

/// `zekka_password_hashes_total{operation}` of the process at `addr`.
async fn hashes(addr: SocketAddr, operation: &str) -> f64 {
    let metrics = http::send(addr, "GET", "/metrics", &[], None)
        .await
        .expect("metrics")
        .text();
    let series = format!("zekka_password_hashes_total{{operation=\"{operation}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Security review F10: a reset with a bad token is refused before the new
/// password is hashed, so unauthenticated callers cannot spend argon2 (in a
/// process of its own, whose metrics no other test moves).
#[tokio::test]
async fn a_reset_with_a_bad_token_costs_no_password_hashing() {
    let db = TestDatabase::not_created();
    let (_server, addr) = zekka_up(&db).await;
    let body = serde_json::json!({"email": "hashed@example.com", "password": "correct horse battery", "display_name": "H"});
    let registered = http::json_request(addr, "POST", "/api/v1/auth/register", None, Some(&body)).await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let user = registered.json()["user_id"].as_str().expect("user").to_owned();
    let before = hashes(addr, "hash").await;
    assert!(before >= 1.0, "the registration hashed its password");
    for owner in [user.as_str(), "01a241b5-0000-7000-8000-000000000000"] {
        let reset = serde_json::json!({"token": format!("zkp_{owner}_not-the-secret"), "new_password": "a new good passphrase"});
        let refused =
            http::json_request(addr, "POST", "/api/v1/auth/reset-password", None, Some(&reset)).await;
        assert_eq!(refused.status, 400, "{}", refused.text());
    }
    assert_eq!(
        hashes(addr, "hash").await,
        before,
        "a refused reset hashed a password"
    );
}
