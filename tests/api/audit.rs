//! The audit trail: commit-order listing, streams, state as of a time, who
//! sees what, and tamper evidence (verify names what SQL changed).

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use zekka_event_store::database::{self, ReadPool};
use zekka_platform::signing_keys;
use zekka_platform::tokens::TokenSigner;

use crate::support::app::{TestApp, User, test_config};
use crate::support::spawn_app;

async fn pools(app: &TestApp) -> (ReadPool, TokenSigner) {
    let config = test_config(&app.db.url);
    let pool = database::read_pool(&config.database_url, config.pool_size).expect("read pool");
    let signer = signing_keys::load_signer(&config, &app.db.sqlx_pool().await)
        .await
        .expect("signer");
    (pool, signer)
}

async fn checkpoint(app: &TestApp) {
    let (pool, signer) = pools(app).await;
    // Wait until every committed event is stable, then sign over all of them.
    for _ in 0..100 {
        zekka_command_api::app::checkpointer::once(&pool, &signer)
            .await
            .expect("checkpoint");
        let client = pool.get().await.expect("client");
        let covered: i64 = client
            .query_one("SELECT coalesce(max(event_count), 0) FROM audit_checkpoints", &[])
            .await
            .expect("count")
            .get(0);
        let events: i64 = client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .expect("count")
            .get(0);
        if covered == events {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the checkpoint never covered every event");
}

async fn verify(app: &TestApp, auditor: &User) -> Value {
    let answer = app
        .request("GET", "/api/v1/audit/verify", Some(&auditor.token), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

async fn rename(app: &TestApp, user: &User, project: &str, name: &str) -> String {
    let answer = app
        .request(
            "PUT",
            &format!("/api/v1/projects/{project}"),
            Some(&user.token),
            Some(&json!({"name": name})),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

#[tokio::test]
async fn the_commit_order_listing_pages_every_event_exactly_once_across_concurrent_writers() {
    let app = spawn_app().await;
    let auditor = app.admin("auditor").await;
    let mut writers = Vec::new();
    for n in 0..4 {
        writers.push(app.user(&format!("writer{n}")).await);
    }
    let mut projects = Vec::new();
    for writer in &writers {
        projects.push(app.project(writer, "Busy").await.0);
    }
    // Four writers rename their projects at once while the listing is read.
    let app = &app;
    let writes = join_all(writers.iter().zip(&projects).map(|(writer, project)| async move {
        for n in 0..15 {
            rename(app, writer, project, &format!("name {n}")).await;
        }
    }));
    let client = app.db.connect().await;
    let total = || async {
        client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .expect("count")
            .get::<_, i64>(0)
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let reads = async {
        let mut seen = Vec::new();
        let mut after = String::new();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let page = app
                .request(
                    "GET",
                    &format!("/api/v1/audit/events?limit=7&after={after}"),
                    Some(&auditor.token),
                    None,
                )
                .await;
            assert_eq!(page.status, 200, "{}", page.text());
            let page = page.json();
            let items = page["items"].as_array().expect("items");
            for item in items {
                seen.push(item["position"].as_i64().expect("position"));
            }
            if let Some(resume) = page["resume_cursor"].as_str() {
                resume.clone_into(&mut after);
            }
            if items.is_empty() {
                if finished && seen.len() as i64 >= total().await {
                    break seen;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let writes = async {
        writes.await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let ((), seen) = tokio::time::timeout(Duration::from_secs(120), async { tokio::join!(writes, reads) })
        .await
        .expect("the listing caught up with every write");
    let total = total().await;
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an event was listed twice");
    assert_eq!(seen.len() as i64, total, "an event was never listed");
    let expected: Vec<i64> = client
        .query(
            "SELECT global_position FROM events ORDER BY transaction_id, global_position",
            &[],
        )
        .await
        .expect("order")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seen, expected, "not in commit order");
}

#[tokio::test]
async fn events_carry_their_metadata_and_members_see_only_their_projects_streams() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let owner = app.user("owner").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Audited").await;
    let (other, _) = app.project(&stranger, "Elsewhere").await;
    let token = rename(&app, &owner, &project, "Audited twice").await;

    let mine = app
        .get_consistent(
            &format!("/api/v1/audit/events?aggregate_type=Project&aggregate_id={project}"),
            &owner.token,
            &token,
        )
        .await;
    assert_eq!(mine.status, 200, "{}", mine.text());
    let items = mine.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 2, "{items:?}");
    let updated = &items[1];
    assert_eq!(updated["event_type"], "ProjectUpdated");
    assert_eq!(updated["actor"], owner.id.as_str());
    assert_eq!(updated["command"], "UpdateProject");
    assert!(updated["correlation_id"].is_string() && updated["causation_id"].is_string());
    assert!(updated["client_ip"].is_string(), "{updated}");
    assert_eq!(updated["hash"].as_str().map(str::len), Some(64));
    assert_eq!(updated["payload"]["ProjectUpdated"]["name"], "Audited twice");

    // The owner sees their own account's stream, with its secrets redacted.
    let me = app
        .get_consistent(
            &format!("/api/v1/audit/streams/User/{}", owner.id),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(
        me["items"][0]["payload"]["UserRegistered"]["password_hash"],
        "[redacted]"
    );

    // Not another project's events, nor its stream.
    let theirs = app
        .get_consistent(
            &format!("/api/v1/audit/events?aggregate_id={other}"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(theirs["items"], json!([]));
    app.get_consistent(
        &format!("/api/v1/audit/streams/Project/{other}"),
        &owner.token,
        &token,
    )
    .await
    .assert_problem(404);
    let everything = app
        .get_consistent("/api/v1/audit/events?limit=200", &owner.token, &token)
        .await
        .json();
    assert!(
        everything["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["aggregate_id"] != other.as_str() && e["aggregate_id"] != stranger.id.as_str()),
        "{everything}"
    );
    // The admin sees it all; verification and checkpoints are theirs alone.
    let theirs = app
        .get_consistent(
            &format!("/api/v1/audit/streams/Project/{other}"),
            &admin.token,
            &token,
        )
        .await;
    assert_eq!(theirs.status, 200, "{}", theirs.text());
    for path in ["/api/v1/audit/verify", "/api/v1/audit/checkpoints"] {
        app.request("GET", path, Some(&owner.token), None)
            .await
            .assert_problem(403);
    }
    for path in [
        "/api/v1/audit/events?after=nonsense",
        "/api/v1/audit/streams/Project/x?cursor=x",
    ] {
        app.request("GET", path, Some(&admin.token), None)
            .await
            .assert_problem(400);
    }
    app.request(
        "GET",
        "/api/v1/audit/events?from=yesterday",
        Some(&admin.token),
        None,
    )
    .await
    .assert_problem(422);
}

/// Every event a member may read, in commit order, by the definition the
/// index replaced: their own streams and their projects' streams.
async fn visible_to(client: &tokio_postgres::Client, member: &str) -> Vec<i64> {
    client
        .query(
            "SELECT e.global_position FROM events e
               JOIN rm_streams s ON s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id
              WHERE s.user_id = $1::text::uuid
                 OR s.project_id IN (SELECT project_id FROM rm_project_members WHERE user_id = $1::text::uuid)
              ORDER BY e.transaction_id, e.global_position",
            &[&member],
        )
        .await
        .expect("visible events")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Whether the projections a listing reads (`streams`, `projects`) have
/// applied every committed event.
async fn projected_everything(client: &tokio_postgres::Client) -> bool {
    client
        .query_one(
            "SELECT NOT EXISTS (SELECT 1 FROM projection_checkpoints c, events e
                                 WHERE c.name IN ('streams', 'projects')
                                   AND (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position))",
            &[],
        )
        .await
        .expect("lag")
        .get(0)
}

#[tokio::test]
async fn a_members_listing_pages_their_scopes_exactly_once_in_commit_order_while_others_write() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let stranger = app.user("stranger").await;
    let (shared, _) = app.project(&owner, "Shared").await;
    let (private, _) = app.project(&owner, "Private").await;
    let (theirs, _) = app.project(&stranger, "Theirs").await;
    // Joined after the project had a history: that history is theirs to read.
    rename(&app, &owner, &shared, "Shared before").await;
    app.add_member(&owner, &shared, &member, "member").await;
    let (own, _) = app.project(&member, "Own").await;

    let app = &app;
    let writers = [
        (&owner, shared.clone()),
        (&owner, private.clone()),
        (&stranger, theirs.clone()),
        (&member, own.clone()),
    ];
    let writes = join_all(writers.iter().map(|(writer, project)| async move {
        for n in 0..10 {
            rename(app, writer, project, &format!("name {n}")).await;
        }
    }));
    let client = app.db.connect().await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let reads = async {
        let mut seen: Vec<(i64, String)> = Vec::new();
        let mut after = String::new();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let page = app
                .request(
                    "GET",
                    &format!("/api/v1/audit/events?limit=5&after={after}"),
                    Some(&member.token),
                    None,
                )
                .await;
            assert_eq!(page.status, 200, "{}", page.text());
            let page = page.json();
            let items = page["items"].as_array().expect("items");
            for item in items {
                seen.push((
                    item["position"].as_i64().expect("position"),
                    item["aggregate_id"].as_str().expect("id").to_owned(),
                ));
            }
            if let Some(resume) = page["resume_cursor"].as_str() {
                resume.clone_into(&mut after);
            }
            if items.is_empty() {
                // Done when every write is in and the listing's projections
                // have applied all of it (they may lag: the listing waits).
                if finished
                    && projected_everything(&client).await
                    && seen.len() >= visible_to(&client, &member.id).await.len()
                {
                    break seen;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let writes = async {
        writes.await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let ((), seen) = tokio::time::timeout(Duration::from_secs(120), async { tokio::join!(writes, reads) })
        .await
        .expect("the listing caught up with every write");
    let positions: Vec<i64> = seen.iter().map(|(position, _)| *position).collect();
    assert_eq!(
        positions,
        visible_to(&client, &member.id).await,
        "not every visible event exactly once in commit order"
    );
    let ids: HashSet<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    for (visible, project) in [(true, &shared), (true, &own), (false, &private), (false, &theirs)] {
        assert_eq!(ids.contains(project.as_str()), visible, "{project}: {ids:?}");
    }
    assert!(ids.contains(member.id.as_str()), "their own account's stream");
    assert!(!ids.contains(owner.id.as_str()) && !ids.contains(stranger.id.as_str()));
}

#[tokio::test]
async fn the_state_between_two_updates_is_the_earlier_state() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "First name").await;
    rename(&app, &owner, &project, "Second name").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let token = rename(&app, &owner, &project, "Third name").await;

    let at = between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let state = app
        .get_consistent(
            &format!(
                "/api/v1/audit/streams/Project/{project}/state?at={}",
                at.replace('+', "%2B")
            ),
            &owner.token,
            &token,
        )
        .await;
    assert_eq!(state.status, 200, "{}", state.text());
    let state = state.json();
    assert_eq!(state["sequence"], 2, "{state}");
    assert!(state["state"].to_string().contains("Second name"), "{state}");
    assert!(!state["state"].to_string().contains("Third name"), "{state}");
    let now = app
        .get_consistent(
            &format!("/api/v1/audit/streams/Project/{project}/state"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert!(now["state"].to_string().contains("Third name"), "{now}");
    app.get_consistent(
        &format!("/api/v1/audit/streams/Project/{project}/state?at=2000-01-01"),
        &owner.token,
        &token,
    )
    .await
    .assert_problem(404);
    app.get_consistent(
        &format!("/api/v1/audit/streams/Project/{project}/state?at=soon"),
        &owner.token,
        &token,
    )
    .await
    .assert_problem(422);
}

/// An app with some history, a signed checkpoint over all of it, and an
/// admin to verify with.
async fn signed_history() -> (TestApp, User, String) {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let (project, _) = app.project(&admin, "Kept honest").await;
    for n in 0..3 {
        rename(&app, &admin, &project, &format!("name {n}")).await;
    }
    app.project(&admin, "Another").await;
    checkpoint(&app).await;
    let report = verify(&app, &admin).await;
    assert_eq!(report["intact"], true, "{report}");
    assert!(report["checkpoints_checked"].as_i64() >= Some(1), "{report}");
    (app, admin, project)
}

#[tokio::test]
async fn an_untouched_store_verifies_and_an_altered_payload_is_named() {
    let (app, admin, project) = signed_history().await;
    let client = app.db.connect().await;
    client
        .execute(
            "UPDATE events SET payload = jsonb_set(payload, '{ProjectUpdated,name}', '\"name X\"')
              WHERE aggregate_type = 'Project' AND aggregate_id = $1 AND sequence = 3",
            &[&project],
        )
        .await
        .expect("tamper");
    let report = verify(&app, &admin).await;
    assert_eq!(report["intact"], false);
    let failure = &report["first_failure"];
    assert_eq!(failure["kind"], "altered", "{report}");
    assert_eq!(failure["aggregate_id"], project.as_str());
    assert_eq!(failure["sequence"], 3);

    // Rewriting the hashes as well (with the database's own function) still
    // fails against the signed checkpoint.
    client
        .batch_execute(
            "DO $$
             DECLARE e record; prev bytea;
             BEGIN
               FOR e IN SELECT * FROM events ORDER BY aggregate_type, aggregate_id, sequence LOOP
                 SELECT hash INTO prev FROM events WHERE aggregate_type = e.aggregate_type
                    AND aggregate_id = e.aggregate_id AND sequence = e.sequence - 1;
                 UPDATE events SET hash = event_hash(prev, e.aggregate_type, e.aggregate_id, e.sequence,
                        e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at)
                  WHERE aggregate_type = e.aggregate_type AND aggregate_id = e.aggregate_id
                    AND sequence = e.sequence;
               END LOOP;
             END $$",
        )
        .await
        .expect("rewrite hashes");
    let report = verify(&app, &admin).await;
    assert_eq!(report["first_failure"]["kind"], "checkpoint_mismatch", "{report}");
}

#[tokio::test]
async fn a_deleted_event_is_named_by_the_gap_or_by_the_checkpoint() {
    let (app, admin, project) = signed_history().await;
    let client = app.db.connect().await;
    client
        .execute(
            "DELETE FROM events WHERE aggregate_type = 'Project' AND aggregate_id = $1 AND sequence = 2",
            &[&project],
        )
        .await
        .expect("delete");
    let report = verify(&app, &admin).await;
    assert_eq!(report["first_failure"]["kind"], "missing", "{report}");
    assert_eq!(report["first_failure"]["aggregate_id"], project.as_str());
    assert_eq!(report["first_failure"]["sequence"], 3);

    // A stream's last event leaves no gap: the signed checkpoint catches it.
    let (app, admin, project) = signed_history().await;
    let client = app.db.connect().await;
    client
        .execute(
            "DELETE FROM events WHERE aggregate_type = 'Project' AND aggregate_id = $1 AND sequence = 4",
            &[&project],
        )
        .await
        .expect("delete");
    let report = verify(&app, &admin).await;
    assert_eq!(report["first_failure"]["kind"], "checkpoint_mismatch", "{report}");
}

#[tokio::test]
async fn reordered_events_are_named() {
    let (app, admin, project) = signed_history().await;
    let client = app.db.connect().await;
    // Swap two events of one stream.
    client
        .batch_execute(&format!(
            "UPDATE events SET sequence = sequence + 1000
              WHERE aggregate_type = 'Project' AND aggregate_id = '{project}' AND sequence IN (2, 3);
             UPDATE events SET sequence = CASE sequence WHEN 1002 THEN 3 ELSE 2 END
              WHERE aggregate_type = 'Project' AND aggregate_id = '{project}' AND sequence IN (1002, 1003);"
        ))
        .await
        .expect("swap sequences");
    let report = verify(&app, &admin).await;
    assert_eq!(report["first_failure"]["kind"], "altered", "{report}");
    assert_eq!(report["first_failure"]["aggregate_id"], project.as_str());

    // Swap two events of different streams in the global order.
    let (app, admin, _) = signed_history().await;
    let client = app.db.connect().await;
    client
        .batch_execute(
            "CREATE TEMP TABLE pair AS
               SELECT global_position, transaction_id FROM events
                WHERE aggregate_type = 'Project' AND sequence = 1 ORDER BY global_position LIMIT 2;
             ALTER TABLE events ALTER COLUMN global_position DROP IDENTITY;
             UPDATE events e SET transaction_id = o.transaction_id, global_position = -o.global_position
               FROM pair p, pair o
              WHERE e.global_position = p.global_position AND o.global_position <> p.global_position;
             UPDATE events SET global_position = -global_position WHERE global_position < 0;",
        )
        .await
        .expect("swap positions");
    let report = verify(&app, &admin).await;
    assert_eq!(report["first_failure"]["kind"], "checkpoint_mismatch", "{report}");
}

#[tokio::test]
async fn zekka_audit_verify_reports_and_fails_on_a_changed_store() {
    let (app, _, project) = signed_history().await;
    let run = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
            .args(["audit", "verify"])
            .env("DATABASE_URL", &app.db.url)
            .env_remove("REDIS_URL")
            .output()
    };
    let clean = run().await.expect("run zekka audit verify");
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let report: Value = serde_json::from_slice(&clean.stdout).expect("a JSON report");
    assert_eq!(report["intact"], true);

    app.db
        .connect()
        .await
        .execute(
            "UPDATE events SET metadata = metadata || '{\"actor\": \"someone else\"}'
              WHERE aggregate_type = 'Project' AND aggregate_id = $1 AND sequence = 1",
            &[&project],
        )
        .await
        .expect("tamper");
    let tampered = run().await.expect("run zekka audit verify");
    assert!(!tampered.status.success());
    let report: Value = serde_json::from_slice(&tampered.stdout).expect("a JSON report");
    assert_eq!(report["first_failure"]["kind"], "altered", "{report}");
    assert_eq!(report["first_failure"]["sequence"], 1);
}

#[tokio::test]
async fn checkpoints_kept_outside_catch_a_rewrite_that_also_removed_the_stored_ones() {
    let (app, admin, project) = signed_history().await;
    let kept = app
        .request("GET", "/api/v1/audit/checkpoints", Some(&admin.token), None)
        .await
        .json();
    let documents: Vec<String> = kept["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["document"].as_str().expect("document").to_owned())
        .collect();
    assert!(!documents.is_empty());
    let file = std::env::temp_dir().join(format!("zekka-checkpoints-{}.txt", uuid::Uuid::now_v7()));
    std::fs::write(&file, documents.join("\n")).expect("keep the checkpoints");

    // Someone with SQL access rewrites an event, recomputes every hash with
    // the database's own function, and deletes the stored checkpoints.
    app.db
        .connect()
        .await
        .batch_execute(&format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{ProjectUpdated,name}}', '\"forged\"')
              WHERE aggregate_type = 'Project' AND aggregate_id = '{project}' AND sequence = 2;
             DO $$
             DECLARE e record; prev bytea;
             BEGIN
               FOR e IN SELECT * FROM events ORDER BY aggregate_type, aggregate_id, sequence LOOP
                 SELECT hash INTO prev FROM events WHERE aggregate_type = e.aggregate_type
                    AND aggregate_id = e.aggregate_id AND sequence = e.sequence - 1;
                 UPDATE events SET hash = event_hash(prev, e.aggregate_type, e.aggregate_id, e.sequence,
                        e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at)
                  WHERE aggregate_type = e.aggregate_type AND aggregate_id = e.aggregate_id
                    AND sequence = e.sequence;
               END LOOP;
             END $$;
             DELETE FROM audit_checkpoints;"
        ))
        .await
        .expect("forge the history");
    let verify = |kept: bool| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"));
        command.args(["audit", "verify"]);
        if kept {
            command.arg("--checkpoints").arg(&file);
        }
        command
            .env("DATABASE_URL", &app.db.url)
            .env_remove("REDIS_URL")
            .output()
    };
    // The store alone now looks intact…
    let alone = verify(false).await.expect("run zekka audit verify");
    assert!(alone.status.success());
    // …but not against the checkpoints the auditor kept.
    let against_kept = verify(true).await.expect("run zekka audit verify");
    assert!(!against_kept.status.success());
    let report: Value = serde_json::from_slice(&against_kept.stdout).expect("a JSON report");
    assert_eq!(report["first_failure"]["kind"], "checkpoint_mismatch", "{report}");
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn after_takes_an_events_global_position_as_well_as_a_cursor() {
    let app = spawn_app().await;
    let auditor = app.admin("auditor").await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Numbered").await;
    let mut token = String::new();
    for n in 0..5 {
        token = rename(&app, &owner, &project, &format!("name {n}")).await;
    }
    let everything = app
        .get_consistent("/api/v1/audit/events?limit=200", &auditor.token, &token)
        .await
        .json();
    let positions: Vec<i64> = everything["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["position"].as_i64().expect("position"))
        .collect();
    assert!(positions.len() > 6, "{positions:?}");
    let pick = positions[3];
    let rest = app
        .request(
            "GET",
            &format!("/api/v1/audit/events?limit=200&after={pick}"),
            Some(&auditor.token),
            None,
        )
        .await;
    assert_eq!(rest.status, 200, "{}", rest.text());
    let rest: Vec<i64> = rest.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["position"].as_i64().expect("position"))
        .collect();
    assert_eq!(rest, positions[4..].to_vec());
    let from_zero = app
        .request(
            "GET",
            "/api/v1/audit/events?limit=200&after=0",
            Some(&auditor.token),
            None,
        )
        .await
        .json();
    assert_eq!(from_zero["items"].as_array().map(Vec::len), Some(positions.len()));
    let beyond = app
        .request(
            "GET",
            &format!(
                "/api/v1/audit/events?after={}",
                positions[positions.len() - 1] + 1000
            ),
            Some(&auditor.token),
            None,
        )
        .await
        .json();
    assert_eq!(beyond["items"], serde_json::json!([]));
}

/// The export of the whole trail, as the admin downloads it.
async fn exported(app: &TestApp, admin: &User) -> String {
    let answer = app
        .request("GET", "/api/v1/audit/export", Some(&admin.token), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/x-ndjson"));
    answer.text()
}

/// The public keys that signed the checkpoints.
async fn public_key(app: &TestApp) -> String {
    let keys = signing_keys::list(&app.db.sqlx_pool().await).await.expect("keys");
    keys.first().expect("a key").public_key.clone()
}

fn offline(export: &str, key: &str) -> Value {
    let verifier = zekka_platform::tokens::TokenVerifier::from_paserk(key).expect("public key");
    serde_json::to_value(zekka_event_store::integrity::verify_export(
        export.lines(),
        &verifier,
    ))
    .expect("report")
}

#[tokio::test]
async fn an_export_verifies_offline_and_a_changed_byte_a_removed_line_or_a_swap_is_named() {
    let (app, admin, project) = signed_history().await;
    let export = exported(&app, &admin).await;
    let key = public_key(&app).await;
    let events: i64 = app
        .db
        .connect()
        .await
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);

    // The binary, with nothing but the file and the key.
    let dir = std::env::temp_dir().join(format!("zekka-export-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("export.ndjson");
    std::fs::write(&file, &export).expect("write export");
    let run = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
            .args(["audit", "verify", "--file"])
            .arg(path)
            .args(["--public-key", &key])
            .env_remove("DATABASE_URL")
            .output()
            .expect("run zekka audit verify --file")
    };
    let clean = run(&file);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let report: Value = serde_json::from_slice(&clean.stdout).expect("a JSON report");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["events_checked"], events);
    assert!(report["checkpoints_checked"].as_i64() >= Some(1), "{report}");

    let lines: Vec<&str> = export.lines().collect();
    let event_lines: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains("\"kind\":\"event\""))
        .collect();
    // The project's stream: created, then renamed three times.
    let of_project: Vec<usize> = event_lines
        .iter()
        .copied()
        .filter(|i| lines[*i].contains(&project))
        .collect();
    assert!(of_project.len() >= 4, "{of_project:?}");

    // One changed byte in a payload: that event is named.
    let renamed = of_project[2];
    let mut changed: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    changed[renamed] = changed[renamed].replacen("name 1", "name 7", 1);
    assert_ne!(changed[renamed], lines[renamed]);
    let changed_text = changed.join("\n");
    let report = offline(&changed_text, &key);
    assert_eq!(report["first_failure"]["kind"], "altered", "{report}");
    assert_eq!(report["first_failure"]["aggregate_id"], project.as_str());
    assert_eq!(report["first_failure"]["sequence"], 3);
    let tampered = dir.join("changed.ndjson");
    std::fs::write(&tampered, &changed_text).expect("write");
    assert!(!run(&tampered).status.success());

    // One removed line: the gap it leaves is named.
    let removed: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != of_project[1])
        .map(|(_, l)| *l)
        .collect();
    let report = offline(&removed.join("\n"), &key);
    assert_eq!(report["first_failure"]["kind"], "missing", "{report}");
    assert_eq!(report["first_failure"]["aggregate_id"], project.as_str());
    assert_eq!(report["first_failure"]["sequence"], 3);

    // Two lines swapped: out of commit order.
    let (a, b) = (event_lines[2], event_lines[3]);
    let mut swapped: Vec<&str> = lines.clone();
    swapped.swap(a, b);
    let report = offline(&swapped.join("\n"), &key);
    assert_eq!(report["first_failure"]["kind"], "out_of_order", "{report}");
    assert!(report["first_failure"]["global_position"].as_i64().is_some());

    // Only auditors and admins export.
    let owner = app.user("owner").await;
    app.request("GET", "/api/v1/audit/export", Some(&owner.token), None)
        .await
        .assert_problem(403);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn an_export_of_a_range_starts_from_the_running_hash_before_it() {
    let (app, admin, _) = signed_history().await;
    let whole = exported(&app, &admin).await;
    let key = public_key(&app).await;
    let positions: Vec<i64> = whole
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "event")
        .map(|v| v["global_position"].as_i64().expect("position"))
        .collect();
    let from = positions[positions.len() / 2];
    let part = app
        .request(
            "GET",
            &format!("/api/v1/audit/export?from_position={from}"),
            Some(&admin.token),
            None,
        )
        .await
        .text();
    let first: Value = serde_json::from_str(part.lines().next().expect("a start line")).expect("JSON");
    assert_eq!(first["kind"], "start");
    assert_eq!(first["global_position"], from);
    let report = offline(&part, &key);
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(
        report["events_checked"].as_u64(),
        Some((positions.len() - positions.len() / 2 - 1) as u64)
    );
    assert!(report["checkpoints_checked"].as_i64() >= Some(1), "{report}");
}

/// Polls verification `id` until it is done.
async fn finished(app: &TestApp, auditor: &User, id: &str) -> Value {
    for _ in 0..200 {
        let job = app
            .request(
                "GET",
                &format!("/api/v1/audit/verifications/{id}"),
                Some(&auditor.token),
                None,
            )
            .await;
        assert_eq!(job.status, 200, "{}", job.text());
        let job = job.json();
        if job["status"] == "done" || job["status"] == "failed" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("verification {id} never finished");
}

#[tokio::test]
async fn a_verification_runs_as_a_job_with_progress_and_a_stored_report() {
    let (app, admin, project) = signed_history().await;
    let owner = app.user("owner").await;
    let events: i64 = app
        .db
        .connect()
        .await
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);
    let queued = app
        .request("POST", "/api/v1/audit/verifications", Some(&admin.token), None)
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let id = queued.json()["id"].as_str().expect("id").to_owned();
    let job = finished(&app, &admin, &id).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["report"]["intact"], true, "{job}");
    assert!(job["events_total"].as_i64() >= Some(events), "{job}");
    assert_eq!(job["events_checked"], job["report"]["events_checked"]);
    assert!(job["report"]["checkpoints_checked"].as_i64() >= Some(1));

    app.db
        .connect()
        .await
        .execute(
            "UPDATE events SET metadata = metadata || '{\"command\": \"rewritten\"}'
              WHERE aggregate_type = 'Project' AND aggregate_id = $1 AND sequence = 2",
            &[&project],
        )
        .await
        .expect("tamper");
    let again = app
        .request("POST", "/api/v1/audit/verifications", Some(&admin.token), None)
        .await
        .json();
    let job = finished(&app, &admin, again["id"].as_str().expect("id")).await;
    assert_eq!(job["report"]["intact"], false, "{job}");
    assert_eq!(job["report"]["first_failure"]["kind"], "altered");
    assert_eq!(job["report"]["first_failure"]["sequence"], 2);

    app.request("POST", "/api/v1/audit/verifications", Some(&owner.token), None)
        .await
        .assert_problem(403);
    app.request(
        "GET",
        &format!("/api/v1/audit/verifications/{id}"),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(403);
}

#[tokio::test]
async fn an_event_inserted_by_hand_is_named_by_verify() {
    let (app, admin, project) = signed_history().await;
    // The next event of the project, written past the writer: whatever hash
    // it is given, it is not its chain's (the database computes none since
    // migration 0035), so verify names it.
    app.db
        .connect()
        .await
        .execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata, hash)
             VALUES ('Project', $1, 5, 'ProjectUpdated', '1.0',
                     '{\"ProjectUpdated\": {\"name\": \"by hand\", \"description\": null, \"budget_usd\": null}}',
                     '{}', event_hash(NULL, 'Project', $1, 5, 'ProjectUpdated', '1.0', '{}', '{}', now()))",
            &[&project],
        )
        .await
        .expect("insert by hand");
    let report = verify(&app, &admin).await;
    assert_eq!(report["intact"], false, "{report}");
    let failure = &report["first_failure"];
    assert_eq!(failure["kind"], "altered", "{report}");
    assert_eq!(failure["aggregate_id"], project.as_str(), "{report}");
    assert_eq!(failure["sequence"], 5, "{report}");
}

#[tokio::test]
async fn an_append_after_its_predecessor_was_rewritten_reads_the_stream_again_and_chains_right() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let (project, _) = app.project(&admin, "Rechained").await;
    rename(&app, &admin, &project, "first").await;
    // The stream's last event is rewritten (as `zekka audit reseal` does):
    // its hash changes under the command side, which holds the old one.
    app.db
        .connect()
        .await
        .execute(
            "UPDATE events e SET metadata = e.metadata || '{\"rewritten\": true}',
                    hash = event_hash(p.hash, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type,
                                      e.event_version, e.payload, e.metadata || '{\"rewritten\": true}',
                                      e.recorded_at)
               FROM events p
              WHERE e.aggregate_type = 'Project' AND e.aggregate_id = $1 AND e.sequence = 2
                AND p.aggregate_type = e.aggregate_type AND p.aggregate_id = e.aggregate_id
                AND p.sequence = 1",
            &[&project],
        )
        .await
        .expect("rewrite");
    let report = verify(&app, &admin).await;
    assert_eq!(
        report["intact"], true,
        "the rewrite itself is consistent: {report}"
    );
    // The append chained from the old hash is refused by the database as a
    // conflict; the command reads the stream again and appends on the new.
    rename(&app, &admin, &project, "second").await;
    let report = verify(&app, &admin).await;
    assert_eq!(report["intact"], true, "{report}");
}

#[tokio::test]
async fn the_writers_jsonb_text_is_the_one_postgresql_prints() {
    let db = crate::support::TestDatabase::migrated().await;
    let client = db.connect().await;
    let mut values = vec![
        json!({"b": 1, "a": 2, "aa": [1, 2.5, -0.0, 1e-7, 1.5e300, 12345678901234567_u64, -3]}),
        json!({"text": "quote \" backslash \\ newline \n tab \t bell \u{7} del \u{7f} é 日本 😀 </script>"}),
        json!({"": null, "nested": {"deeper": {"deepest": [true, false, {}, []]}}, "zz": "end"}),
        json!({"keys of one length": 1, "keys of one lengtH": 2, "KEYS": 3, "é": 4, "e": 5}),
        json!([
            0.1,
            0.2,
            0.30000000000000004,
            100.0,
            1e16,
            1e21,
            123.456,
            -9.87e-5,
            5e-324,
            1.7976931348623157e308
        ]),
        json!("\u{1}\u{1f}"),
    ];
    // And many arbitrary doubles, as amounts and rates are.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..300 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let number = f64::from_bits(state);
        if number.is_finite() {
            values.push(
                json!({"n": number, "scaled": number / 1e10, "small": (state % 100_000) as f64 / 100.0}),
            );
        }
    }
    for value in values {
        let printed: String = client
            .query_one("SELECT $1::text::jsonb::text", &[&value.to_string()])
            .await
            .expect("print")
            .get(0);
        assert_eq!(
            zekka_event_store::integrity::jsonb_text(&value),
            printed,
            "for {value}"
        );
    }
}
