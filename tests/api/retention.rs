//! The retention policy (issue 26): each rule's rows are made by the real
//! flows, kept while young, and gone once the sweep runs at a clock moved
//! past their keep; `zekka retention run --dry-run` reports without removing.

use chrono::{Duration, Utc};
use serde_json::json;
use zekka_command_api::app::mailer::{self, Delivery};
use zekka_command_api::app::retention::{self, RULES};
use zekka_event_store::database;

use crate::support::app::test_config;
use crate::support::spawn_app_with;

/// Rows of `table` matching `condition`.
async fn count(app: &crate::support::app::TestApp, table: &str, condition: &str) -> i64 {
    app.db
        .connect()
        .await
        .query_one(&format!("SELECT count(*) FROM {table} WHERE {condition}"), &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn every_rule_keeps_young_rows_and_removes_aged_ones() {
    let app = spawn_app_with(&[
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "yes"),
        ("WEBHOOK_TIMEOUT_MS", "200"),
    ])
    .await;
    let config = test_config(&app.db.url);
    let pool = database::read_pool(&app.db.url, 2).expect("pool");

    // mail_sent: a verification mail, delivered (to the log).
    let sent_to = app.user("sent").await;
    mailer::drain_once(
        &app.db.sqlx_pool().await,
        &Delivery::from_config(&config).expect("delivery"),
        100,
    )
    .await
    .expect("drain");
    assert!(
        count(
            &app,
            "mail_outbox",
            &format!(
                "recipient = '{}' AND sent_at IS NOT NULL",
                sent_to.email.to_lowercase()
            )
        )
        .await
            >= 1
    );
    // mail_unsent: a mail queued after the drain stays unsent.
    let unsent_to = app.user("unsent").await;
    assert!(
        count(
            &app,
            "mail_outbox",
            &format!(
                "recipient = '{}' AND sent_at IS NULL",
                unsent_to.email.to_lowercase()
            )
        )
        .await
            >= 1
    );
    // idempotency_answers: a write with a key.
    let keyed = app
        .raw(
            "POST",
            "/api/v1/projects",
            &[
                ("Authorization", &format!("Bearer {}", sent_to.token)),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "retention-test"),
            ],
            Some(json!({"name": "Kept a day"}).to_string().as_bytes()),
        )
        .await;
    assert_eq!(keyed.status, 201, "{}", keyed.text());
    assert_eq!(count(&app, "idempotency_keys", "key = 'retention-test'").await, 1);
    // webhook_undelivered: a message for a receiver that is not there.
    let project = keyed.json()["id"].as_str().expect("id").to_owned();
    let hook = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/webhooks"),
            Some(&sent_to.token),
            Some(&json!({"url": "http://localhost:9/hook", "events": ["project:updated"], "secret": "0123456789abcdef"})),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text());
    app.request(
        "PUT",
        &format!("/api/v1/projects/{project}"),
        Some(&sent_to.token),
        Some(&json!({"name": "Renamed"})),
    )
    .await;
    for _ in 0..200 {
        if count(&app, "webhook_outbox", "true").await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        count(&app, "webhook_outbox", "true").await > 0,
        "no undelivered message"
    );
    // invitations_expired: an invitation nobody accepts; sessions_expired:
    // the sessions of everyone signed in (their refresh tokens last 7 days).
    let invited = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/invitations"),
            Some(&sent_to.token),
            Some(&json!({"email": "nobody-yet@example.com", "role": "member"})),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text());
    for _ in 0..200 {
        if count(&app, "rm_invitations", "true").await > 0 && count(&app, "rm_sessions", "true").await >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(count(&app, "rm_invitations", "true").await, 1);
    assert!(count(&app, "rm_sessions", "true").await >= 2);

    // Now: nothing is old enough.
    let now = retention::sweep(&pool, Utc::now(), false).await.expect("sweep");
    assert!(now.iter().all(|s| s.rows == 0), "{now:?}");

    // Nine days on: a dry run counts a row for every rule and removes none.
    let later = Utc::now() + Duration::days(9);
    let dry = retention::sweep(&pool, later, true).await.expect("dry run");
    assert_eq!(dry.len(), RULES.len());
    for swept in &dry {
        assert!(swept.rows >= 1, "{} has no aged row: {dry:?}", swept.rule);
    }
    assert_eq!(count(&app, "idempotency_keys", "key = 'retention-test'").await, 1);

    let removed = retention::sweep(&pool, later, false).await.expect("sweep");
    assert_eq!(
        removed.iter().map(|s| s.rows).collect::<Vec<_>>(),
        dry.iter().map(|s| s.rows).collect::<Vec<_>>()
    );
    assert_eq!(count(&app, "mail_outbox", "true").await, 0);
    assert_eq!(count(&app, "idempotency_keys", "true").await, 0);
    assert_eq!(count(&app, "webhook_outbox", "true").await, 0);
    assert_eq!(count(&app, "rm_invitations", "true").await, 0);
    assert_eq!(count(&app, "rm_sessions", "true").await, 0);

    // The operator's dry run names every rule.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
        .args(["retention", "run", "--dry-run"])
        .env("DATABASE_URL", &app.db.url)
        .env_remove("REDIS_URL")
        .output()
        .expect("run zekka retention");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    for rule in RULES {
        assert!(
            printed.contains(rule.name) && printed.contains("would remove 0"),
            "{printed}"
        );
    }
}
