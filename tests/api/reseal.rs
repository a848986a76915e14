//! Re-sealing old history: events written before request addresses and user
//! agents were sealed hold them in plaintext; `zekka audit reseal-metadata`
//! seals them, and the audit shows the rewrite and still verifies.

use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::spawn_app;

const LEGACY_AGENT: &str = "LegacyAgent/1.0 (before-sealing)";
const LEGACY_IP: &str = "198.51.100.23";

/// Runs the `zekka` binary against the app's database.
async fn zekka(app: &TestApp, args: &[&str]) -> Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env_remove("REDIS_URL")
        .env_remove("ZEKKA_SIGNING_KEY")
        .output()
        .await
        .expect("run zekka");
    assert!(
        output.status.success(),
        "zekka {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

async fn events_mentioning(app: &TestApp, needle: &str) -> i64 {
    app.db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE metadata::text LIKE $1",
            &[&format!("%{needle}%")],
        )
        .await
        .expect("scan events")
        .get(0)
}

/// Puts `person`'s events back as a store written before sealing held
/// them: the address and user agent in plaintext, the chains of their
/// streams hashed over that (as the insert trigger did then).
async fn write_as_before_sealing(app: &TestApp, person: &str) {
    app.db
        .connect()
        .await
        .execute(
            "UPDATE events SET metadata = metadata || jsonb_build_object('client_ip', $2::text, 'user_agent', $3::text)
              WHERE metadata ->> 'actor' = $1",
            &[&person, &LEGACY_IP, &LEGACY_AGENT],
        )
        .await
        .expect("plaintext metadata");
    rehash_every_stream(app).await;
}

/// Recomputes every stream's chain with the database's own function (what
/// the insert trigger computed, or what someone rewriting history would).
async fn rehash_every_stream(app: &TestApp) {
    app.db
        .connect()
        .await
        .batch_execute(
            "DO $$
             DECLARE e record; prev bytea; stream text := NULL;
             BEGIN
                 FOR e IN SELECT * FROM events ORDER BY aggregate_type, aggregate_id, sequence LOOP
                     IF stream IS DISTINCT FROM e.aggregate_type || '/' || e.aggregate_id THEN
                         prev := NULL; stream := e.aggregate_type || '/' || e.aggregate_id;
                     END IF;
                     prev := event_hash(prev, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type,
                                        e.event_version, e.payload, e.metadata, e.recorded_at);
                     UPDATE events SET hash = prev
                      WHERE aggregate_type = e.aggregate_type AND aggregate_id = e.aggregate_id
                        AND sequence = e.sequence;
                 END LOOP;
             END $$",
        )
        .await
        .expect("rehash as the trigger did");
}

#[tokio::test]
async fn old_plaintext_metadata_is_resealed_with_the_rewrite_shown_and_verified() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let person = app.user("oldtimer").await;
    let (project, _) = app.project(&person, "Written long ago").await;
    let renamed = app
        .request(
            "PUT",
            &format!("/api/v1/projects/{project}"),
            Some(&person.token),
            Some(&json!({"name": "Still old"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    // Later events of the same stream, by someone else: their hashes
    // follow the rewritten ones.
    let other = app.user("newcomer").await;
    app.add_member(&person, &project, &other, "admin").await;
    let token = app
        .request(
            "PUT",
            &format!("/api/v1/projects/{project}"),
            Some(&other.token),
            Some(&json!({"description": "the last change"})),
        )
        .await
        .json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.get_consistent("/api/v1/projects", &person.token, &token)
        .await;

    write_as_before_sealing(&app, &person.id).await;
    let legacy = events_mentioning(&app, LEGACY_AGENT).await;
    assert!(legacy >= 3, "{legacy}");
    // A checkpoint signed over the old history, as one would have been.
    zekka(&app, &["audit", "checkpoint"]).await;
    let before = app
        .request("GET", "/api/v1/audit/verify", Some(&admin.token), None)
        .await
        .json();
    assert_eq!(before["intact"], true, "{before}");

    // A dry run counts and changes nothing.
    let dry = zekka(&app, &["audit", "reseal-metadata", "--dry-run"]).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["events_resealed"], legacy, "{dry}");
    assert!(dry["rewrite_id"].is_null());
    assert_eq!(events_mentioning(&app, LEGACY_AGENT).await, legacy);

    let done = zekka(&app, &["audit", "reseal-metadata"]).await;
    assert_eq!(done["events_resealed"], legacy, "{done}");
    assert!(
        done["events_rewritten"].as_i64() > done["events_resealed"].as_i64(),
        "later events of the streams are rehashed too: {done}"
    );
    assert_eq!(done["checkpoints_superseded"], 1, "{done}");
    assert_eq!(events_mentioning(&app, LEGACY_AGENT).await, 0);
    assert_eq!(events_mentioning(&app, LEGACY_IP).await, 0);
    // Nothing is left to do the second time.
    let again = zekka(&app, &["audit", "reseal-metadata"]).await;
    assert_eq!(again["events_resealed"], 0, "{again}");
    assert!(again["rewrite_id"].is_null());

    // Still read, opened, through the audit; the rewrite shown and checked.
    let stream = format!("/api/v1/audit/streams/Project/{project}");
    let seen = app.request("GET", &stream, Some(&admin.token), None).await.json();
    assert_eq!(seen["items"][0]["user_agent"], LEGACY_AGENT, "{seen}");
    assert_eq!(seen["items"][0]["client_ip"], LEGACY_IP);
    let verified = app
        .request("GET", "/api/v1/audit/verify", Some(&admin.token), None)
        .await
        .json();
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(
        verified["checkpoints_checked"], 2,
        "the new checkpoint and the one it replaced"
    );
    let rewrite = &verified["rewrites"][0];
    assert_eq!(rewrite["rewrite_id"], done["rewrite_id"]);
    assert_eq!(rewrite["events_resealed"], legacy);
    assert!(rewrite["reason"].as_str().is_some_and(|r| r.contains("reseal")));

    // Erasing the person now makes the old details unreadable too.
    let erased = app
        .request("DELETE", "/api/v1/users/me", Some(&person.token), None)
        .await;
    assert_eq!(erased.status, 202, "{}", erased.text());
    let after = app.request("GET", &stream, Some(&admin.token), None).await.json();
    assert_eq!(after["items"][0]["user_agent"], "[erased]", "{after}");
    assert_eq!(after["items"][0]["client_ip"], "[erased]");
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", &app.db.url])
        .output()
        .expect("pg_dump");
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(!dump.contains(LEGACY_AGENT) && !dump.contains(LEGACY_IP));

    // The record of the rewrite cannot be edited unseen.
    app.db
        .connect()
        .await
        .execute(
            "UPDATE audit_rewritten_events SET old_hash = sha256(old_hash)
              WHERE global_position = (SELECT min(global_position) FROM audit_rewritten_events)",
            &[],
        )
        .await
        .expect("tamper");
    let tampered = app
        .request("GET", "/api/v1/audit/verify", Some(&admin.token), None)
        .await
        .json();
    assert_eq!(tampered["intact"], false, "{tampered}");
    assert_eq!(
        tampered["first_failure"]["kind"], "rewrite_mismatch",
        "{tampered}"
    );
}

#[tokio::test]
async fn a_rewrite_that_changed_more_than_it_lists_is_named() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let person = app.user("oldtimer").await;
    let (project, _) = app.project(&person, "Written long ago").await;
    let token = app
        .request(
            "PUT",
            &format!("/api/v1/projects/{project}"),
            Some(&person.token),
            Some(&json!({"name": "Renamed"})),
        )
        .await
        .json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.get_consistent("/api/v1/projects", &person.token, &token)
        .await;
    write_as_before_sealing(&app, &person.id).await;
    zekka(&app, &["audit", "checkpoint"]).await;
    zekka(&app, &["audit", "reseal-metadata"]).await;

    // Someone holding the signing key also changes an event the rewrite
    // does not list, rehashes its stream and signs a fresh checkpoint over
    // the result: the current chain and checkpoint hold, but the checkpoint
    // the rewrite replaced no longer does with its old hashes put back.
    app.db
        .connect()
        .await
        .execute(
            "UPDATE events SET payload = payload || '{\"forged\": true}'
              WHERE aggregate_id = $1 AND sequence = 1",
            &[&admin.id],
        )
        .await
        .expect("forge");
    rehash_every_stream(&app).await;
    app.db
        .connect()
        .await
        .execute("DELETE FROM audit_checkpoints", &[])
        .await
        .expect("drop the current checkpoints");
    zekka(&app, &["audit", "checkpoint"]).await;
    let report = app
        .request("GET", "/api/v1/audit/verify", Some(&admin.token), None)
        .await
        .json();
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["first_failure"]["kind"], "checkpoint_mismatch", "{report}");
    assert!(
        report["first_failure"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("replaced by rewrite")),
        "{report}"
    );
}
