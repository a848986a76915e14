//! `peer`: the framework underneath, alone (issue 25) — cqrs-es 0.5 on
//! postgres-es' own `PostgresEventRepository`, in process, no HTTP, no
//! projections, no hash chain: each of `clients` tasks executes commands
//! back to back, each on a fresh aggregate (a load that finds nothing, then
//! one event appended). Run right before `commands`, on the same database
//! (tables of its own, `peer_events`/`peer_snapshots`, emptied first and
//! dropped after), with the same clients and seconds, so `commands ÷ peer`
//! compares Zekka over HTTP with every projection running against the bare
//! framework on the same machine in the same minutes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, CqrsFramework, DomainEvent};
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::report;

/// What to run.
pub struct Options {
    /// Concurrent clients (database connections).
    pub clients: usize,
    /// Seconds to run.
    pub seconds: u64,
}

/// The peer's aggregate: a counter, one event per command.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    total: u64,
}

/// Its one command.
#[derive(Debug)]
struct Add(u64);

/// Its one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Added {
    amount: u64,
}

impl DomainEvent for Added {
    fn event_type(&self) -> String {
        "Added".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Never raised: adding always succeeds.
#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Counter {
    const TYPE: &'static str = "PeerCounter";
    type Command = Add;
    type Event = Added;
    type Error = Never;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let mut scratch = Self { total: self.total };
        sink.write(Added { amount: command.0 }, &mut scratch).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.total += event.amount;
    }
}

/// postgres-es' schema (its `db/init.sql`), under names of the peer's own.
const SCHEMA: &str = "
DROP TABLE IF EXISTS peer_events, peer_snapshots;
CREATE TABLE peer_events (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    sequence bigint CHECK (sequence >= 0) NOT NULL,
    event_type text NOT NULL,
    event_version text NOT NULL,
    payload json NOT NULL,
    metadata json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE TABLE peer_snapshots (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);";

/// Runs the scenario and prints its results.
///
/// # Errors
/// Without `DATABASE_URL`, or when the database refuses.
pub async fn run(options: Options) -> Result<()> {
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL names the database the peer runs in")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(u32::try_from(options.clients).unwrap_or(u32::MAX))
        .connect(&url)
        .await?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await?;
    let repository = PostgresEventRepository::new(pool.clone()).with_tables("peer_events", "peer_snapshots");
    let framework = std::sync::Arc::new(CqrsFramework::new(
        PersistedEventStore::<PostgresEventRepository, Counter>::new_event_store(repository),
        vec![],
        (),
    ));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let mut tasks = Vec::new();
    for _ in 0..options.clients.max(1) {
        let framework = framework.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = report::latency_histogram();
            let mut errors = 0_u64;
            while Instant::now() < deadline {
                let id = uuid::Uuid::now_v7().to_string();
                let sent = Instant::now();
                match framework.execute(&id, Add(1)).await {
                    Ok(()) => report::record(&mut latency, sent.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latency, errors)
        }));
    }
    let mut latency = report::latency_histogram();
    let mut errors = 0;
    for task in tasks {
        let (theirs, failed) = task.await?;
        // Same bounds on both sides: adding cannot fail.
        let _ = latency.add(&theirs);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP TABLE IF EXISTS peer_events, peer_snapshots")
        .execute(&pool)
        .await?;
    report::print_header();
    report::print_row("peer", &latency, elapsed);
    let mut summary = report::summary(&latency);
    summary["per_second"] = json!(latency.len() as f64 / elapsed);
    summary["errors"] = json!(errors);
    let result = json!({
        "scenario": "peer",
        "clients": options.clients,
        "seconds": options.seconds,
        "commands": summary,
    });
    println!("{result}");
    Ok(())
}
