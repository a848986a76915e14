//! Reads through a real streaming replica (issue 25): `DATABASE_READ_URL`
//! names a hot standby started by the harness (`support::replica`); writes
//! go to the primary, the query API reads the replica, and a consistency
//! token is honoured there — a read waits until the replica has replayed
//! the write, then answers; past the wait it is a 503.

use serde_json::json;

use crate::search::{kinds_and_ids, search};
use crate::support::app::{TestApp, spawn_on, test_config_with};
use crate::support::database::TestDatabase;
use crate::support::replica::{REPLAY, replica};

/// The app on a fresh database, reading from the replica.
async fn app_on_replica(overrides: &[(&str, &str)]) -> TestApp {
    let replica = replica().await;
    let db = TestDatabase::migrated().await;
    replica.caught_up_with(&db).await;
    let read_url = replica.url_for(&db.name);
    let mut all = vec![("DATABASE_READ_URL", read_url.as_str())];
    all.extend_from_slice(overrides);
    let config = test_config_with(&db.url, &all);
    spawn_on(db, config).await
}

fn token_of(answer: &crate::support::http::Response) -> String {
    answer.json()["consistency_token"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| answer.header("x-consistency-token").map(str::to_owned))
        .expect("a consistency token")
}

#[tokio::test]
async fn every_read_model_read_through_the_replica_shows_the_write_its_token_names() {
    let _reading = REPLAY.read().await;
    let app = app_on_replica(&[]).await;
    let owner = app.user("owner").await;
    let (project, token) = app.project(&owner, "Replicated").await;
    let read = app
        .get_consistent(&format!("/api/v1/projects/{project}"), &owner.token, &token)
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json()["name"], "Replicated");

    let (conversation, _) = app.conversation(&owner, &project, "Standby talk").await;
    let sent = app
        .send_message(&owner, &conversation, "hafnium replicated at once")
        .await;
    let token = sent["consistency_token"].as_str().expect("token").to_owned();
    let messages = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &owner.token,
            &token,
        )
        .await;
    assert_eq!(messages.status, 200, "{}", messages.text());
    assert!(
        messages.text().contains("hafnium replicated at once"),
        "{}",
        messages.text()
    );
    let found = search(&app, &owner, "q=hafnium", &token).await;
    assert_eq!(
        kinds_and_ids(&found),
        vec![("messages".to_owned(), sent["id"].as_str().expect("id").to_owned())]
    );

    let agent = app.agent(&owner, &project, "Replicated agent").await;
    let usage = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/usage"),
            Some(&owner.token),
            Some(&json!({"model": "gpt-4", "input_tokens": 1000, "output_tokens": 500})),
        )
        .await;
    assert_eq!(usage.status, 201, "{}", usage.text());
    let token = token_of(&usage);
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &token)
        .await;
    assert_eq!(stats.status, 200, "{}", stats.text());
    assert_eq!(stats.json()["tokens_input"], 1000, "{}", stats.text());
    assert_eq!(stats.json()["tokens_output"], 500, "{}", stats.text());
    assert_eq!(stats.json()["messages"], 1, "{}", stats.text());

    // The replica's lag is exported, and readiness reports the replica.
    let metrics = app.request("GET", "/metrics", None, None).await;
    assert!(
        metrics.text().contains("zekka_replica_lag_seconds"),
        "{}",
        metrics.text()
    );
    let ready = app
        .raw("GET", "/readyz", &[("Accept", "application/json")], None)
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(ready.json()["replica"], "ok", "{}", ready.text());
}

#[tokio::test]
async fn a_read_waits_for_the_replica_to_replay_its_write_and_past_the_wait_is_a_503() {
    // Replay is paused for the whole replica: no other test reads through it meanwhile.
    let _pausing = REPLAY.write().await;
    let app = app_on_replica(&[("CONSISTENCY_WAIT_MS", "1500")]).await;
    let replica = replica().await;
    let owner = app.user("owner").await;
    let (project, token) = app.project(&owner, "Before").await;
    let path = format!("/api/v1/projects/{project}");
    assert_eq!(app.get_consistent(&path, &owner.token, &token).await.status, 200);

    replica.pause_replay(true).await;
    let renamed = app
        .request("PUT", &path, Some(&owner.token), Some(&json!({"name": "After"})))
        .await;
    assert!(renamed.status < 300, "{}", renamed.text());
    let token = token_of(&renamed);
    // Without a token the read is served from the replica as it stands...
    let stale = app.request("GET", &path, Some(&owner.token), None).await;
    assert_eq!(stale.json()["name"], "Before", "{}", stale.text());
    // ...with one, it waits for the replay and gives up after the wait.
    let waited = app.get_consistent(&path, &owner.token, &token).await;
    waited.assert_problem(503);
    // A token naming no write is still refused at once, not waited for.
    let forged = app.get_consistent(&path, &owner.token, "v1.1.999999999").await;
    forged.assert_problem(400);
    // The lag shows in the metrics while replay stands still.
    let mut pending = 0;
    for _ in 0..40 {
        let metrics = app.request("GET", "/metrics", None, None).await.text();
        pending = metrics
            .lines()
            .find(|l| l.starts_with("zekka_replica_replay_pending_bytes "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        if pending > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    replica.pause_replay(false).await;
    assert!(pending > 0, "no replay lag was exported while replay was paused");

    let caught_up = app.get_consistent(&path, &owner.token, &token).await;
    assert_eq!(caught_up.status, 200, "{}", caught_up.text());
    assert_eq!(caught_up.json()["name"], "After");
}
