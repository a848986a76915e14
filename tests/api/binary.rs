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

#[tokio::test]
async fn zekka_up_creates_its_database_serves_readyz_and_stops_on_sigterm() {
    let db = TestDatabase::not_created();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
        .arg("up")
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
    let ready = loop {
        if let Ok(response) = http::send(addr, "GET", "/readyz", &[], None).await
            && response.status == 200
        {
            break response;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "zekka up never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready.text(), "ready");
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
