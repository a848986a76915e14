//! Concurrent appends to different streams share one statement, and a
//! group with a stream whose sequence is taken still gives every other
//! stream its events and that stream its conflict — never half a stream.

use serde_json::json;
use zekka_event_store::store::{Batch, GroupCommit, NewEvent};

use crate::support::TestDatabase;

fn batch(id: &str, first: i64, count: usize) -> Batch {
    let mut batch = Batch::chained_from(None);
    for n in 0..count {
        batch.push(
            "Test",
            id,
            NewEvent {
                sequence: first + i64::try_from(n).expect("small"),
                event_type: "TestHappened".to_owned(),
                event_version: "1.0".to_owned(),
                payload: json!({"TestHappened": {"n": n}}),
                metadata: json!({}),
            },
        );
    }
    batch
}

#[tokio::test]
async fn appends_waiting_together_share_one_transaction() {
    let db = TestDatabase::migrated().await;
    let pool = db.sqlx_pool().await;
    let group = GroupCommit::spawn(pool.clone());
    let ids: Vec<String> = (0..20).map(|n| format!("stream-{n}")).collect();
    let appended =
        futures_util::future::join_all(ids.iter().map(|id| group.append("Test", id, batch(id, 1, 2)))).await;
    let mut positions = Vec::new();
    for result in appended {
        positions.push(result.expect("appended").global_position);
    }
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), 20, "each stream has a last position of its own");

    let (events, transactions, streams): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT transaction_id), count(DISTINCT aggregate_id)
           FROM events WHERE aggregate_type = 'Test'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!((events, streams), (40, 20));
    assert!(
        transactions < 20,
        "{transactions} transactions for 20 appends waiting together"
    );
    // Each stream's events are consecutive and chained as if appended alone.
    let broken: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events e JOIN events p
             ON (p.aggregate_type, p.aggregate_id, p.sequence) = (e.aggregate_type, e.aggregate_id, e.sequence - 1)
          WHERE e.aggregate_type = 'Test'
            AND e.hash <> event_hash(p.hash, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type,
                                     e.event_version, e.payload, e.metadata, e.recorded_at)",
    )
    .fetch_one(&pool)
    .await
    .expect("chain");
    assert_eq!(broken, 0);
}

#[tokio::test]
async fn a_taken_sequence_fails_only_its_own_stream_in_a_group() {
    let db = TestDatabase::migrated().await;
    let pool = db.sqlx_pool().await;
    let group = GroupCommit::spawn(pool.clone());
    group
        .append("Test", "taken", batch("taken", 1, 1))
        .await
        .expect("first");

    let mut appends = vec![("taken".to_owned(), batch("taken", 1, 1))];
    appends.extend((0..9).map(|n| {
        let id = format!("free-{n}");
        let batch = batch(&id, 1, 3);
        (id, batch)
    }));
    let results =
        futures_util::future::join_all(appends.iter().map(|(id, b)| group.append("Test", id, b.clone())))
            .await;
    for ((id, _), result) in appends.iter().zip(&results) {
        match (id.as_str(), result) {
            ("taken", Err(sqlx::Error::Database(error))) => {
                assert_eq!(error.code().as_deref(), Some("23505"), "{error}");
            }
            ("taken", other) => panic!("the taken sequence was appended: {other:?}"),
            (_, Ok(_)) => {}
            (id, Err(error)) => panic!("{id} failed with the other stream: {error}"),
        }
    }
    let per_stream: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, count(*) FROM events WHERE aggregate_type = 'Test'
          GROUP BY aggregate_id ORDER BY aggregate_id",
    )
    .fetch_all(&pool)
    .await
    .expect("count");
    assert_eq!(per_stream.len(), 10);
    for (id, count) in per_stream {
        assert_eq!(count, if id == "taken" { 1 } else { 3 }, "{id}");
    }
}

#[tokio::test]
async fn the_write_pool_plans_its_statements_once_per_session() {
    let db = TestDatabase::migrated().await;
    // One connection, so every statement below runs in one session. (The
    // group writer's own connections are opened with the same options.)
    let pool = zekka_event_store::database::write_pool(&db.url, 1)
        .await
        .expect("write pool");
    let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
        .fetch_one(&pool)
        .await
        .expect("show");
    assert_eq!(mode, "force_generic_plan");
    for n in 0..12 {
        let _: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2")
                .bind("Test")
                .bind(format!("stream-{n}"))
                .fetch_one(&pool)
                .await
                .expect("keyed read");
    }
    let (custom, generic): (i64, i64) = sqlx::query_as(
        "SELECT custom_plans, generic_plans FROM pg_prepared_statements
          WHERE statement LIKE 'SELECT count(*) FROM events WHERE aggregate_type = $1%'",
    )
    .fetch_one(&pool)
    .await
    .expect("plans");
    // PostgreSQL's default plans the first five executions afresh, and every
    // one after whose generic plan looks costlier (the append's always did).
    assert_eq!(custom, 0, "planned afresh {custom} times");
    assert_eq!(generic, 12);
}
