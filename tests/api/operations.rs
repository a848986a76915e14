//! Operating projections: rebuilds on demand while the system is in use,
//! several projector processes with one killed, poison events, and the
//! `zekka rebuild` command.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use serde_json::{Value, json};
use zekka_event_store::database::{self, ReadPool};
use zekka_event_store::event_log::StoredEvent;
use zekka_event_store::personal_data::PersonalData;
use zekka_platform::shutdown;
use zekka_projectors::projections::projects::ProjectsProjection;
use zekka_projectors::projections::usage::UsageProjection;
use zekka_projectors::service::ProjectorService;
use zekka_projectors::{Projection, ProjectionError, Projector};

use crate::support::app::{TestApp, User, test_config};
use crate::support::{TestDatabase, spawn_app_with};

async fn projector(db: &TestDatabase, projection: Arc<dyn Projection>) -> Projector {
    let config = test_config(&db.url);
    let pool: ReadPool = database::read_pool(&config.database_url, config.pool_size).expect("read pool");
    let personal = PersonalData::load(config.master_key_text(), pool.clone())
        .await
        .expect("keys");
    Projector::new(projection, pool, Arc::new(personal), 100)
}

async fn record_usage(app: &TestApp, user: &User, agent: &str, input: i64) -> String {
    let recorded = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/usage"),
            Some(&user.token),
            Some(&json!({"model": "gemini-pro", "input_tokens": input, "output_tokens": 1})),
        )
        .await;
    assert_eq!(recorded.status, 201, "{}", recorded.text());
    recorded.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

fn projection<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no projection {name} in {list}"))
}

#[tokio::test]
async fn a_rebuild_while_writes_and_reads_go_on_serves_a_complete_model_and_ends_equal_to_a_clean_build() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60")]).await;
    let admin = app.admin("operator").await;
    let (project, _) = app.project(&admin, "Busy").await;
    let agent = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&admin.token),
            Some(
                &json!({"project_id": project, "name": "Worker", "kind": "developer", "model": "gemini-pro"}),
            ),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut token = String::new();
    for n in 0..150 {
        token = record_usage(&app, &admin, &agent, 1000 + n).await;
    }
    let metrics = app
        .get_consistent("/api/v1/analytics/metrics", &admin.token, &token)
        .await
        .json();
    let baseline = metrics["tokens_input"].as_i64().expect("tokens");

    let rebuilding = AtomicBool::new(true);
    let writes = async {
        let mut last = String::new();
        for n in 0..60 {
            last = record_usage(&app, &admin, &agent, 5000 + n).await;
        }
        last
    };
    let reads = async {
        // Every answer during the rebuild comes from a complete model: the
        // total never drops below what was there before it started.
        let mut seen = baseline;
        let mut reads = 0;
        while rebuilding.load(Ordering::SeqCst) {
            let answer = app
                .request("GET", "/api/v1/analytics/metrics", Some(&admin.token), None)
                .await;
            assert_eq!(answer.status, 200, "{}", answer.text());
            let tokens = answer.json()["tokens_input"].as_i64().expect("tokens");
            assert!(
                tokens >= seen,
                "a read saw {tokens} tokens after {seen}: a partial model"
            );
            seen = tokens;
            reads += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reads
    };
    let rebuild = async {
        let requested = app
            .request(
                "POST",
                "/api/v1/projections/usage/rebuild",
                Some(&admin.token),
                None,
            )
            .await;
        assert_eq!(requested.status, 202, "{}", requested.text());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let list = app
                .request("GET", "/api/v1/projections", Some(&admin.token), None)
                .await
                .json();
            let usage = projection(&list, "usage");
            if usage["last_rebuild"]["status"] == "completed" {
                rebuilding.store(false, Ordering::SeqCst);
                return usage.clone();
            }
            assert_ne!(usage["last_rebuild"]["status"], "failed", "{usage}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "the rebuild never finished: {usage}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (last, reads, usage) = tokio::join!(writes, reads, rebuild);
    assert!(reads > 0);
    assert_eq!(usage["last_rebuild"]["differences"], json!([]), "{usage}");
    assert!(usage["last_rebuild"]["done"].as_i64() > Some(150), "{usage}");

    // After the writes: the swapped-in model is complete and equals a build
    // from scratch.
    let metrics = app
        .get_consistent("/api/v1/analytics/metrics", &admin.token, &last)
        .await
        .json();
    let expected: i64 = (0..150).map(|n| 1000 + n).sum::<i64>() + (0..60).map(|n| 5000 + n).sum::<i64>();
    assert_eq!(metrics["tokens_input"], expected);
    let rebuilt = app.db.dump(&["rm\\_usage"]).await;
    let clean = projector(&app.db, Arc::new(UsageProjection::live())).await;
    clean.reset().await.expect("reset");
    clean.drain().await.expect("drain");
    assert_eq!(app.db.dump(&["rm\\_usage"]).await, rebuilt);

    // Operators see every projection, others are refused.
    let list = app
        .request("GET", "/api/v1/projections", Some(&admin.token), None)
        .await
        .json();
    for name in ["users", "projects", "usage", "agents", "conflicts", "streams"] {
        let p = projection(&list, name);
        assert_eq!(p["status"], "running", "{p}");
        assert!(p["lag_events"].is_i64() && p["lag_seconds"].is_number(), "{p}");
    }
    let member = app.user("member").await;
    app.request("GET", "/api/v1/projections", Some(&member.token), None)
        .await
        .assert_problem(403);
    app.request(
        "POST",
        "/api/v1/projections/usage/rebuild",
        Some(&member.token),
        None,
    )
    .await
    .assert_problem(403);
    app.request(
        "POST",
        "/api/v1/projections/nope/rebuild",
        Some(&admin.token),
        None,
    )
    .await
    .assert_problem(404);
}

/// Fails on `{"Probed": {"poison": true}}` until fixed; records every event
/// it applies (no uniqueness: an event applied twice shows up twice).
struct Fussy(Arc<AtomicBool>);

#[async_trait]
impl Projection for Fussy {
    fn name(&self) -> &'static str {
        "fussy"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["test_fussy"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Probe"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.payload["Probed"]["poison"] == true && !self.0.load(Ordering::SeqCst) {
            // A statement that fails, as a real projection's would.
            tx.execute("SELECT 1 / 0", &[]).await?;
        }
        tx.execute(
            "INSERT INTO test_fussy (global_position) VALUES ($1)",
            &[&event.position.global_position],
        )
        .await?;
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE test_fussy").await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_poison_event_stops_one_projection_others_keep_up_and_it_resumes_after_a_fix() {
    let db = TestDatabase::migrated().await;
    let client = db.connect().await;
    client
        .batch_execute("CREATE TABLE test_fussy (global_position bigint NOT NULL)")
        .await
        .expect("test table");
    let probe = |n: i64, poison: bool| {
        format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash)
             VALUES ('Probe', 'p', {n}, 'Probed', '1.0', '{{\"Probed\": {{\"poison\": {poison}}}}}', '{{}}', 'by hand')"
        )
    };
    for (n, poison) in [(1, false), (2, true), (3, false)] {
        client.batch_execute(&probe(n, poison)).await.expect("probe");
    }
    let positions: Vec<i64> = client
        .query(
            "SELECT global_position FROM events WHERE aggregate_type = 'Probe' ORDER BY sequence",
            &[],
        )
        .await
        .expect("positions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let project = uuid::Uuid::now_v7();
    client
        .execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash)
             VALUES ('Project', $1, 1, 'ProjectCreated', '1.0', $2, '{}', 'by hand')",
            &[
                &project.to_string(),
                &json!({"ProjectCreated": {"project_id": project, "name": "Healthy", "description": "",
                         "budget_usd": null, "owner_id": uuid::Uuid::now_v7(), "stage": "requirements"}}),
            ],
        )
        .await
        .expect("a project");

    let fixed = Arc::new(AtomicBool::new(false));
    let config = test_config(&db.url);
    let pool = database::read_pool(&config.database_url, config.pool_size).expect("pool");
    let service = ProjectorService::with_projections(
        &config,
        pool,
        vec![Arc::new(Fussy(fixed.clone())), Arc::new(ProjectsProjection)],
    )
    .await
    .expect("service");
    let (trigger, stop) = shutdown::channel();
    let running = tokio::spawn(service.run_until(stop));

    let status = |name: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT status, error_position, error_event_type, error, global_position
                       FROM projection_checkpoints WHERE name = $1",
                    &[&name],
                )
                .await
                .expect("status")
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let fussy = status("fussy").await;
        if fussy.get::<_, String>(0) == "failed" {
            assert_eq!(fussy.get::<_, Option<i64>>(1), Some(positions[1]));
            assert_eq!(fussy.get::<_, Option<String>>(2).as_deref(), Some("Probed"));
            assert!(
                fussy
                    .get::<_, Option<String>>(3)
                    .is_some_and(|e| e.contains("division by zero"))
            );
            // The event before the poison one is kept.
            assert_eq!(fussy.get::<_, i64>(4), positions[0]);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poison event was never reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The other projection keeps up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while client
        .query_opt("SELECT 1 FROM rm_projects WHERE project_id = $1", &[&project])
        .await
        .expect("projects")
        .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the healthy projection stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Fixed: it resumes at the poison event, skipping nothing, repeating nothing.
    fixed.store(true, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let fussy = status("fussy").await;
        if fussy.get::<_, String>(0) == "running" && fussy.get::<_, i64>(4) >= positions[2] {
            assert_eq!(fussy.get::<_, Option<String>>(3), None);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projection never resumed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let applied: Vec<i64> = client
        .query(
            "SELECT global_position FROM test_fussy ORDER BY global_position",
            &[],
        )
        .await
        .expect("applied")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(applied, positions);
    trigger.trigger();
    running.await.expect("service stops");
}

/// `zekka serve projectors` as its own process on `db`.
fn projector_process(db: &TestDatabase) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
        .args(["serve", "projectors"])
        .env("DATABASE_URL", &db.url)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("PROJECTOR_BATCH_SIZE", "25")
        .env("PROJECTOR_POLL_MS", "20")
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start zekka serve projectors")
}

#[tokio::test]
async fn two_projector_processes_one_killed_mid_stream_give_the_same_model_as_one_clean_run() {
    let db = TestDatabase::migrated().await;
    let client = db.connect().await;
    let total: i64 = 3000;
    client
        .batch_execute(&format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash)
             SELECT 'Project', id::text, 1, 'ProjectCreated', '1.0',
                    jsonb_build_object('ProjectCreated', jsonb_build_object(
                        'project_id', id, 'name', 'p' || n, 'description', '', 'budget_usd', null,
                        'owner_id', id, 'stage', 'requirements')),
                    '{{}}', 'by hand'
               FROM (SELECT n, gen_random_uuid() AS id FROM generate_series(1, {total}) n) s"
        ))
        .await
        .expect("events");
    let mut first = projector_process(&db);
    let _second = projector_process(&db);
    let applied = || async {
        client
            .query_opt(
                "SELECT global_position, events_applied FROM projection_checkpoints WHERE name = 'projects'",
                &[],
            )
            .await
            .expect("checkpoint")
            .map(|r| r.get::<_, i64>(1))
            .unwrap_or(0)
    };
    // Kill one process (SIGKILL: no shutdown, mid-batch) once work is under way.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while applied().await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no projector started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("killed");
    let at_kill = applied().await;
    assert!(
        at_kill < total,
        "killed too late to matter ({at_kill} of {total})"
    );
    // The other one takes over and finishes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while applied().await < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the survivor never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(applied().await, total, "an event was applied twice");
    let survived = db.dump(&["rm\\_project%"]).await;
    let clean = projector(&db, Arc::new(ProjectsProjection)).await;
    clean.reset().await.expect("reset");
    clean.drain().await.expect("drain");
    assert_eq!(db.dump(&["rm\\_project%"]).await, survived);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM rm_projects", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, total);
}

#[tokio::test]
async fn zekka_rebuild_rebuilds_a_projection_and_reports_it() {
    let app = spawn_app_with(&[]).await;
    let admin = app.admin("operator").await;
    let (_, token) = app.project(&admin, "Rebuilt from the command line").await;
    app.get_consistent("/api/v1/projects", &admin.token, &token).await;
    let before = app.db.dump(&["rm\\_project%"]).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
        .args(["rebuild", "projects"])
        .env("DATABASE_URL", &app.db.url)
        .env_remove("REDIS_URL")
        .output()
        .await
        .expect("run zekka rebuild");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("projects: ") && stdout.contains("events/s"),
        "{stdout}"
    );
    assert!(stdout.contains("equals the live one"), "{stdout}");
    assert_eq!(app.db.dump(&["rm\\_project%"]).await, before);
    let unknown = tokio::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
        .args(["rebuild", "nope"])
        .env("DATABASE_URL", &app.db.url)
        .env_remove("REDIS_URL")
        .output()
        .await
        .expect("run zekka rebuild");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("usage"));
}

/// The live checkpoints: (name, position, when last moved).
async fn live_checkpoints(client: &tokio_postgres::Client) -> Vec<(String, i64, std::time::SystemTime)> {
    client
        .query(
            "SELECT name, global_position, updated_at FROM projection_checkpoints
              WHERE name NOT LIKE '%@rebuild' ORDER BY name",
            &[],
        )
        .await
        .expect("checkpoints")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Whether every checkpoint stands at one position, moved by one
/// transaction (one `now()`, a transaction's start, for all).
fn in_step(checkpoints: &[(String, i64, std::time::SystemTime)]) -> bool {
    checkpoints
        .windows(2)
        .all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2)
}

#[tokio::test]
async fn the_projections_advance_in_one_transaction_and_one_reset_catches_up_alone_and_rejoins() {
    let app = crate::support::spawn_app().await;
    let owner = app.verified_user("grouped").await;
    let mut created = 0;
    let create = async |created: &mut i64| {
        let token = app.project(&owner, &format!("Grouped {created}")).await.1;
        *created += 1;
        let listed = app.get_consistent("/api/v1/projects", &owner.token, &token).await;
        assert_eq!(listed.status, 200, "{}", listed.text());
    };
    for _ in 0..5 {
        create(&mut created).await;
    }
    let client = app.db.connect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let before = loop {
        let checkpoints = live_checkpoints(&client).await;
        if in_step(&checkpoints) && checkpoints.first().is_some_and(|c| c.1 > 0) {
            break checkpoints;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projections never stood in step: {checkpoints:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(before.len() > 5, "every live projection is there: {before:?}");

    // One is emptied and sent back to the first event while writes go on:
    // it catches up on its own loop and rejoins; the next write moves it
    // with the others again.
    projector(&app.db, Arc::new(ProjectsProjection))
        .await
        .reset()
        .await
        .expect("reset");
    for _ in 0..5 {
        create(&mut created).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        create(&mut created).await;
        let checkpoints = live_checkpoints(&client).await;
        if in_step(&checkpoints) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reset projection never rejoined: {checkpoints:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows: i64 = client
        .query_one("SELECT count(*) FROM rm_projects", &[])
        .await
        .expect("rows")
        .get(0);
    assert_eq!(rows, created, "every project once, nothing applied twice");
}
