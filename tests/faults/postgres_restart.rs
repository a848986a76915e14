//! PostgreSQL stopped for a few seconds while writers keep sending.

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::ONE_FAULT_AT_A_TIME;
use crate::support::spawn_app_with;

/// The local cluster's version (`/etc/postgresql/<version>`).
fn cluster_version() -> String {
    std::fs::read_dir("/etc/postgresql")
        .expect("a Debian PostgreSQL cluster under /etc/postgresql")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .next()
        .expect("one cluster version")
}

fn pg_ctl(action: &str) {
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &cluster_version(), "main", action])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

/// What the writers saw.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<String>,
    unavailable: usize,
    without_retry_after: usize,
    other: Vec<String>,
}

#[tokio::test]
async fn writes_during_a_postgresql_restart_answer_503_and_no_acknowledged_write_is_lost() {
    let _alone = ONE_FAULT_AT_A_TIME.lock().await;
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "1000000/60")]).await;
    let owner = app.user("writer").await;
    let (project, _) = app.project(&owner, "Durable").await;
    let (conversation, _) = app.conversation(&owner, &project, "Through the outage").await;
    let path = format!("/api/v1/conversations/{conversation}/messages");

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (client, path, token) = (*app, path.clone(), owner.token.clone());
        let (stop, seen) = (stop.clone(), seen.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({"content": format!("writer {writer} message {n}")});
                let answer = client.request("POST", &path, Some(&token), Some(&body)).await;
                {
                    let mut seen = seen.lock().expect("lock");
                    match answer.status {
                        201 => seen
                            .acknowledged
                            .push(answer.json()["id"].as_str().expect("id").to_owned()),
                        503 => {
                            seen.unavailable += 1;
                            if answer.header("retry-after").is_none() {
                                seen.without_retry_after += 1;
                            }
                        }
                        status => seen.other.push(format!("{status}: {}", answer.text())),
                    }
                }
                if answer.status != 201 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    pg_ctl("stop");
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg_ctl("start");
    // The service recovers by itself: writes succeed again without a restart.
    let recovered_by = Instant::now() + Duration::from_secs(30);
    let before = seen.lock().expect("lock").acknowledged.len();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if seen.lock().expect("lock").acknowledged.len() > before + 20 {
            break;
        }
        assert!(
            Instant::now() < recovered_by,
            "writes did not recover within 30 s"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }

    let seen = Arc::try_unwrap(seen)
        .ok()
        .expect("writers done")
        .into_inner()
        .expect("lock");
    assert!(
        seen.other.is_empty(),
        "only 201 or 503: {:?}",
        &seen.other[..seen.other.len().min(5)]
    );
    assert!(seen.unavailable > 0, "the outage was seen as 503s");
    assert_eq!(seen.without_retry_after, 0, "every 503 says when to retry");

    // Accepted = stored.
    let client = app.db.connect().await;
    let stored: HashSet<String> = client
        .query(
            "SELECT payload -> 'MessageSent' ->> 'message_id' FROM events
              WHERE aggregate_type = 'Conversation' AND aggregate_id = $1 AND event_type = 'MessageSent'",
            &[&conversation],
        )
        .await
        .expect("stored")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let lost: Vec<&String> = seen
        .acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost: {lost:?}",
        lost.len()
    );

    // Stored = projected, each exactly once.
    let projected_by = Instant::now() + Duration::from_secs(30);
    loop {
        let projected: HashSet<String> = client
            .query(
                "SELECT message_id::text FROM rm_messages WHERE conversation_id = $1::text::uuid",
                &[&conversation],
            )
            .await
            .expect("projected")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let rows: i64 = client
            .query_one(
                "SELECT count(*) FROM rm_messages WHERE conversation_id = $1::text::uuid",
                &[&conversation],
            )
            .await
            .expect("count")
            .get(0);
        if projected == stored {
            assert_eq!(rows, i64::try_from(stored.len()).expect("small"), "each once");
            break;
        }
        assert!(
            Instant::now() < projected_by,
            "projections did not catch up within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
