//! The projection engine: gap-free catch-up, exactly-once effect, crash safety.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::project::{Description, Project, ProjectCommand, ProjectName};
use zekka_event_store::database::{self, ReadPool};
use zekka_event_store::event_log::{Position, StoredEvent};
use zekka_event_store::personal_data::PersonalData;
use zekka_projectors::projections::projects::ProjectsProjection;
use zekka_projectors::{Outcome, Projection, ProjectionError, Projector};

use crate::support::TestDatabase;

/// Records every global position it is given, in the order given, with no
/// uniqueness constraint: an event applied twice shows up twice.
struct PositionLog;

#[async_trait]
impl Projection for PositionLog {
    fn tables(&self) -> &'static [&'static str] {
        &["test_applied"]
    }

    fn name(&self) -> &'static str {
        "test_position_log"
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Probe"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        tx.execute(
            "INSERT INTO test_applied (global_position) VALUES ($1)",
            &[&event.position.global_position],
        )
        .await?;
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE test_applied").await?;
        Ok(())
    }
}

/// The real `projects` projection, slowed down so a test can stop it mid-batch.
struct Slow(ProjectsProjection);

#[async_trait]
impl Projection for Slow {
    fn tables(&self) -> &'static [&'static str] {
        self.0.tables()
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        self.0.aggregate_types()
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.0.apply(tx, event).await
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        self.0.reset(tx).await
    }
}

async fn read_pool(db: &TestDatabase) -> ReadPool {
    database::read_pool(&db.url, 4).expect("read pool")
}

/// A projector as the service builds it: personal data opened with the
/// database's own master key.
async fn projector(projection: Arc<dyn Projection>, pool: &ReadPool, batch_size: i64) -> Projector {
    let personal = PersonalData::load(None, pool.clone())
        .await
        .expect("personal data keys");
    Projector::new(projection, pool.clone(), Arc::new(personal), batch_size)
}

const PROBE_INSERT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash)
     VALUES ('Probe', $1, 1, 'Probed', '1.0', '{}', '{}', 'by hand') RETURNING global_position";

async fn applied(client: &tokio_postgres::Client) -> Vec<i64> {
    client
        .query("SELECT global_position FROM test_applied ORDER BY seq", &[])
        .await
        .expect("applied")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Drains until `done` holds, polling: `pg_snapshot_xmin` is cluster-wide,
/// so another test's open transaction may hold the projector back a while.
async fn drain_until<F, Fut>(projector: &Projector, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        projector.drain().await.expect("drain");
        if done().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector did not catch up in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_event_whose_transaction_commits_late_is_applied_exactly_once_and_first() {
    let db = TestDatabase::migrated().await;
    let setup = db.connect().await;
    setup
        .batch_execute("CREATE TABLE test_applied (seq bigserial, global_position bigint NOT NULL)")
        .await
        .expect("test table");
    let projector = projector(Arc::new(PositionLog), &read_pool(&db).await, 100).await;
    projector.ensure_checkpoint().await.expect("checkpoint");

    // Writer A takes its transaction id first and stays open.
    let mut slow_writer = db.connect().await;
    let open = slow_writer.transaction().await.expect("begin");
    let late: i64 = open
        .query_one(PROBE_INSERT, &[&"late"])
        .await
        .expect("insert")
        .get(0);

    // Later writers commit first; their global positions are higher.
    let mut early = Vec::new();
    for id in ["b", "c"] {
        early.push(
            setup
                .query_one(PROBE_INSERT, &[&id])
                .await
                .expect("insert")
                .get::<_, i64>(0),
        );
    }
    assert!(early.iter().all(|p| *p > late));

    // Nothing may be applied while the older writer is open: applying b and c
    // now and moving the checkpoint past them would skip the late event.
    assert_eq!(projector.drain().await.expect("drain"), 0);
    assert_eq!(projector.position().await.expect("position"), Position::START);
    assert!(applied(&setup).await.is_empty());

    open.commit().await.expect("commit the late writer");
    drain_until(&projector, || async { applied(&setup).await.len() >= 3 }).await;

    assert_eq!(applied(&setup).await, vec![late, early[0], early[1]]);
    assert_eq!(
        projector.drain().await.expect("drain"),
        0,
        "nothing is applied twice"
    );
    assert_eq!(applied(&setup).await.len(), 3);
}

#[tokio::test]
async fn two_workers_of_one_projection_never_apply_an_event_twice() {
    let db = TestDatabase::migrated().await;
    let setup = db.connect().await;
    setup
        .batch_execute("CREATE TABLE test_applied (seq bigserial, global_position bigint NOT NULL)")
        .await
        .expect("test table");
    for n in 0..200 {
        setup
            .query_one(PROBE_INSERT, &[&format!("p{n}")])
            .await
            .expect("insert");
    }
    let pool = read_pool(&db).await;
    let first = projector(Arc::new(PositionLog), &pool, 7).await;
    let second = projector(Arc::new(PositionLog), &pool, 7).await;
    first.ensure_checkpoint().await.expect("checkpoint");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while applied(&setup).await.len() < 200 {
        let (a, b) = tokio::join!(first.run_once(), second.run_once());
        a.expect("first worker");
        b.expect("second worker");
        assert!(tokio::time::Instant::now() < deadline, "workers did not catch up");
    }
    let positions = applied(&setup).await;
    let mut unique = positions.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(positions.len(), 200);
    assert_eq!(unique.len(), 200, "an event was applied twice");
}

#[tokio::test]
async fn a_projector_killed_mid_stream_resumes_to_the_same_read_model_as_a_clean_run() {
    let db = TestDatabase::migrated().await;
    let pool = db.sqlx_pool().await;
    // postgres-es names no hash: since migration 0035 a writer other than
    // ours needs the chain trigger back, as the bench fixtures put it.
    sqlx::raw_sql(
        "CREATE TRIGGER events_chain_postgres_es BEFORE INSERT ON events
             FOR EACH ROW EXECUTE FUNCTION events_chain()",
    )
    .execute(&pool)
    .await
    .expect("chain trigger");
    let cqrs = postgres_es::postgres_cqrs::<Project>(pool.clone(), vec![], ());
    for n in 0..120 {
        let id = uuid::Uuid::now_v7();
        let owner = uuid::Uuid::now_v7();
        let create = ProjectCommand::Create {
            project_id: id,
            name: ProjectName::parse(&format!("Project {n}")).expect("name"),
            description: Description::default(),
            budget: None,
            owner_id: owner,
        };
        cqrs.execute(&id.to_string(), create).await.expect("create");
        if n % 3 == 0 {
            let rename = ProjectCommand::Update {
                actor: owner,
                name: Some(ProjectName::parse(&format!("Renamed {n}")).expect("name")),
                description: None,
                budget: None,
            };
            cqrs.execute(&id.to_string(), rename).await.expect("update");
        }
    }
    let client = db.connect().await;
    let total: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);
    let read = read_pool(&db).await;

    // Run slowly in the background and kill it once it is part-way through.
    let doomed = projector(Arc::new(Slow(ProjectsProjection)), &read, 10).await;
    doomed.ensure_checkpoint().await.expect("checkpoint");
    let task = tokio::spawn(async move {
        loop {
            if let Ok(Outcome::Idle) = doomed.run_once().await {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let checkpoint = || async {
        client
            .query_one(
                "SELECT global_position, events_applied FROM projection_checkpoints WHERE name = 'projects'",
                &[],
            )
            .await
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
            .expect("checkpoint")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while checkpoint().await.1 == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector never started"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    task.abort();
    let _ = task.await;
    let (_, applied_before_crash) = checkpoint().await;
    assert!(applied_before_crash < total, "the crash must happen mid-stream");

    // Restart and finish.
    let restarted = projector(Arc::new(ProjectsProjection), &read, 10).await;
    drain_until(&restarted, || async { checkpoint().await.1 >= total }).await;
    let (_, events_applied) = checkpoint().await;
    assert_eq!(
        events_applied, total,
        "every event applied exactly once across the crash"
    );
    let after_crash = db.dump(&["rm\\_project%"]).await;

    // An uninterrupted run from scratch gives the same model.
    restarted.reset().await.expect("reset");
    drain_until(&restarted, || async { checkpoint().await.1 >= total }).await;
    assert_eq!(db.dump(&["rm\\_project%"]).await, after_crash);
    let projects: i64 = client
        .query_one("SELECT count(*) FROM rm_projects", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(projects, 120);
}

#[tokio::test]
async fn rebuilding_every_read_model_from_the_stream_gives_identical_rows() {
    use serde_json::json;

    let app = crate::support::spawn_app().await;
    let owner = app.user("builder").await;
    let (project, _) = app.project(&owner, "Rebuilt").await;
    let conversation = app
        .request(
            "POST",
            "/api/v1/conversations",
            Some(&owner.token),
            Some(&json!({"project_id": project, "title": "T"})),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for n in 0..5 {
        app.request(
            "POST",
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&owner.token),
            Some(&json!({"content": format!("m{n}")})),
        )
        .await;
    }
    let agent = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&owner.token),
            Some(&json!({"project_id": project, "name": "A", "kind": "developer", "model": "gpt-4"})),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.request(
        "POST",
        &format!("/api/v1/agents/{agent}/tasks"),
        Some(&owner.token),
        Some(&json!({"title": "T"})),
    )
    .await;
    app.request(
        "POST",
        &format!("/api/v1/agents/{agent}/usage"),
        Some(&owner.token),
        Some(&json!({"model": "gemini-pro", "input_tokens": 1234, "output_tokens": 567})),
    )
    .await;
    app.request(
        "POST",
        "/api/v1/conflicts",
        Some(&owner.token),
        Some(&json!({"project_id": project, "kind": "code", "description": "d", "agent_ids": [agent]})),
    )
    .await;
    // A text source: its indexed text is read from the blob store again.
    let uploaded = app
        .raw(
            "POST",
            &format!("/api/v1/projects/{project}/sources?name=notes.md"),
            &[
                ("Authorization", &format!("Bearer {}", owner.token)),
                ("Content-Type", "text/markdown"),
            ],
            Some(b"rebuilt rhodium notes"),
        )
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let last = app
        .request(
            "PUT",
            "/api/v1/preferences",
            Some(&owner.token),
            Some(&json!({"theme": "dark"})),
        )
        .await
        .json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    // Wait until every projection has applied everything.
    for path in [
        "/api/v1/preferences",
        "/api/v1/projects",
        "/api/v1/conflicts",
        "/api/v1/agents",
    ] {
        assert_eq!(app.get_consistent(path, &owner.token, &last).await.status, 200);
    }
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &last)
        .await;
    assert_eq!(stats.status, 200);
    let sources = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/sources"),
            &owner.token,
            &last,
        )
        .await;
    assert_eq!(sources.status, 200);

    let before = app.db.dump(&["rm\\_%"]).await;
    let pool = read_pool(&app.db).await;
    let blobs = zekka_platform::blobs::Blobs::local(&crate::support::database::sources_dir(&app.db.url))
        .expect("the test's blob directory");
    for projection in zekka_projectors::projections::all(&blobs) {
        let projector = projector(projection, &pool, 7).await;
        projector.reset().await.expect("reset");
        drain_until(&projector, || async { true }).await;
    }
    let after = app.db.dump(&["rm\\_%"]).await;
    assert_eq!(after, before);
    assert!(
        before.contains("rm_usage")
            && before.contains("gemini-pro")
            && before.contains("rebuilt rhodium notes"),
        "{before}"
    );
}

#[tokio::test]
async fn a_rebuild_copies_in_exactly_the_usage_records_and_rollups_the_live_model_wrote() {
    use serde_json::json;

    let app = crate::support::spawn_app().await;
    let owner = app.user("copier").await;
    let (project, _) = app.project(&owner, "Copied").await;
    let created = |path: &'static str, body: serde_json::Value| {
        let (app, owner) = (&app, &owner);
        async move {
            let answer = app.request("POST", path, Some(&owner.token), Some(&body)).await;
            assert_eq!(answer.status, 201, "{}", answer.text());
            answer.json()["id"].as_str().expect("id").to_owned()
        }
    };
    let conversation = created(
        "/api/v1/conversations",
        json!({"project_id": project, "title": "T"}),
    )
    .await;
    let agent = created(
        "/api/v1/agents",
        json!({"project_id": project, "name": "A", "kind": "developer", "model": "gpt-4"}),
    )
    .await;
    let task = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/tasks"),
            Some(&owner.token),
            Some(&json!({"title": "T"})),
        )
        .await
        .json()["task_id"]
        .as_str()
        .expect("task id")
        .to_owned();
    // Every shape of record: with a task, a conversation, both, neither,
    // on two models, with costs that are not round.
    let mut last = String::new();
    for (n, (task_id, conversation_id)) in [
        (Some(&task), None),
        (None, Some(&conversation)),
        (Some(&task), Some(&conversation)),
        (None, None),
    ]
    .into_iter()
    .cycle()
    .take(12)
    .enumerate()
    {
        let model = if n % 3 == 0 { "gemini-pro" } else { "claude-sonnet" };
        let answer = app
            .request(
                "POST",
                &format!("/api/v1/agents/{agent}/usage"),
                Some(&owner.token),
                Some(&json!({
                    "model": model, "input_tokens": 1234 + n * 7, "output_tokens": 567 + n,
                    "task_id": task_id, "conversation_id": conversation_id,
                })),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text());
        last = answer.json()["consistency_token"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    let metrics = app
        .get_consistent("/api/v1/analytics/metrics", &owner.token, &last)
        .await;
    assert_eq!(metrics.status, 200);

    let before = app.db.dump(&["rm\\_usage%", "rm\\_task\\_usage"]).await;
    let live = projector(
        Arc::new(zekka_projectors::projections::usage::UsageProjection::live()),
        &read_pool(&app.db).await,
        100,
    )
    .await;
    let report = zekka_projectors::rebuild::rebuild(&live, |_| {})
        .await
        .expect("rebuild");
    assert_eq!(report.differences, vec![], "the rebuilt rows differ");
    assert!(report.events >= 12, "{report:?}");
    assert_eq!(app.db.dump(&["rm\\_usage%", "rm\\_task\\_usage"]).await, before);
    assert!(
        before.contains(&task) && before.contains(&conversation) && before.contains("gemini-pro"),
        "{before}"
    );
}
