//! Migrations: safe to run concurrently, refuse a changed applied file; and
//! the start-up check that the database keeps what it acknowledges.

use zekka::{App, Services};
use zekka_event_store::database;

use crate::support::TestDatabase;
use crate::support::app::test_config;

#[tokio::test]
async fn two_processes_migrating_one_fresh_database_at_once_both_succeed() {
    let db = TestDatabase::not_created();
    database::ensure_database_exists(&db.url)
        .await
        .expect("create database");
    let first = db.sqlx_pool().await;
    let second = db.sqlx_pool().await;
    let (a, b) = tokio::join!(database::migrate(&first), database::migrate(&second));
    a.expect("first migrator");
    b.expect("second migrator");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&first)
        .await
        .expect("count");
    assert_eq!(applied, database::latest_migration());
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn a_changed_applied_migration_stops_start_up_with_a_clear_message() {
    let db = TestDatabase::migrated().await;
    let pool = db.sqlx_pool().await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 1")
        .execute(&pool)
        .await
        .expect("simulate an edited migration file");
    pool.close().await;

    let error = App::build(test_config(&db.url), Services::All)
        .await
        .err()
        .expect("start-up must be refused");
    let message = format!("{error:#}");
    assert!(message.contains("migration 1 was changed"), "{message}");
}

#[tokio::test]
async fn start_up_creates_a_missing_database() {
    let db = TestDatabase::not_created();
    let app = App::build(test_config(&db.url), Services::All)
        .await
        .expect("build");
    drop(app);
    let client = db.connect().await;
    let events: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE event_type <> 'ModelPriceSet'",
            &[],
        )
        .await
        .expect("the events table exists")
        .get(0);
    assert_eq!(events, 0, "a new database holds nothing but the default prices");
}

#[tokio::test]
async fn zekka_refuses_a_database_that_would_lose_acknowledged_commits_unless_told_otherwise() {
    use crate::support::app::test_config_with;

    let db = TestDatabase::migrated().await;
    // `synchronous_commit` can be turned off for one database; `fsync` and
    // `full_page_writes` only for the whole server, which the other tests
    // share. All three go through the same check.
    db.connect()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET synchronous_commit = off",
            db.name
        ))
        .await
        .expect("alter database");

    let refused = App::build(test_config_with(&db.url, &[]), Services::All).await;
    let message = match refused {
        Ok(_) => panic!("started on a database with synchronous_commit off"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        message.contains("synchronous_commit") && message.contains("ZEKKA_ALLOW_UNSAFE_DB"),
        "the refusal names the setting and the way out: {message}"
    );

    let allowed = App::build(
        test_config_with(&db.url, &[("ZEKKA_ALLOW_UNSAFE_DB", "1")]),
        Services::All,
    )
    .await;
    assert!(
        allowed.is_ok(),
        "ZEKKA_ALLOW_UNSAFE_DB=1 starts anyway (with a warning)"
    );
}
