//! `limit`: what PostgreSQL itself allows on this machine, measured with
//! `pgbench` right before the HTTP scenarios it bounds, in the same
//! database. Three scripts, each shaped like a command's work:
//!
//! - `append`: read the stream's last sequence, then insert the next event
//!   (what a command does), on a table with the columns and keys of
//!   `events` and nothing more (the shape of issue 9's reference figures) —
//!   the ceiling `commands` is compared with;
//! - `insert`: one single-row insert into that table (the cheapest write);
//! - `store_append`: `append` on a copy of `events` as it really is, with
//!   its expression indexes, inserting as the writer does since migration
//!   0035 (the chained hash given, the predecessor's checked in the same
//!   statement; until then a PL/pgSQL trigger per row computed it): what
//!   this store's own schema allows.
//!
//! Needs `psql` and `pgbench` on the PATH and `DATABASE_URL` (set by
//! `bench/run.sh`).

use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// What to run.
pub struct Options {
    /// Concurrent pgbench clients.
    pub clients: usize,
    /// Seconds per script.
    pub seconds: u64,
}

const TABLE: &str = "
DROP TABLE IF EXISTS bench_ceiling_events;
CREATE TABLE bench_ceiling_events (
    aggregate_type  text   NOT NULL,
    aggregate_id    text   NOT NULL,
    sequence        bigint NOT NULL,
    event_type      text   NOT NULL,
    event_version   text   NOT NULL,
    payload         jsonb  NOT NULL,
    metadata        jsonb  NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8   NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE UNIQUE INDEX ON bench_ceiling_events (transaction_id, global_position);
CREATE UNIQUE INDEX ON bench_ceiling_events (global_position);
DROP TABLE IF EXISTS bench_ceiling_store;
CREATE TABLE bench_ceiling_store (LIKE events INCLUDING ALL);
";

/// Drops the tables, then checkpoints: a minute of pgbench writes about a
/// gigabyte of WAL, which would otherwise start a checkpoint (and its
/// writeback) in the middle of the scenario measured next.
const DROP: &str = "DROP TABLE bench_ceiling_events, bench_ceiling_store; CHECKPOINT;";

const PAYLOAD: &str = r#"'{"MessageSent": {"message_id": "0193a1b2-0000-7000-8000-000000000000", "author_id": "0193a1b2-0000-7000-8000-000000000001", "role": "user", "agent_id": null, "content": "zk1.c2VhbGVkIGNvbnRlbnQgb2YgYSBiZW5jaG1hcmsgbWVzc2FnZQ"}}'"#;
const METADATA: &str = r#"'{"actor": "0193a1b2-0000-7000-8000-000000000001", "command": "SendMessage", "causation_id": "0193a1b2-0000-7000-8000-000000000002", "correlation_id": "0193a1b2-0000-7000-8000-000000000002", "client_ip": "127.0.0.1"}'"#;

fn append_script(table: &str) -> String {
    format!(
        "\\set stream random(1, 100000)
SELECT coalesce(max(sequence), 0) AS last FROM {table}
 WHERE aggregate_type = 'Conversation' AND aggregate_id = 'c' || :stream \\gset
INSERT INTO {table} (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ('Conversation', 'c' || :stream, :last + 1, 'MessageSent', '1.0', {PAYLOAD}, {METADATA})
ON CONFLICT DO NOTHING;
"
    )
}

/// The store's append as the writer sends it (migration 0035): the hash
/// chained by the writer (a constant here: pgbench does none of the
/// writer's work, as it serialises no JSON), checked against the
/// predecessor's stored one in the same statement.
fn store_append_script() -> String {
    format!(
        "\\set stream random(1, 100000)
SELECT coalesce(max(sequence), 0) AS last FROM bench_ceiling_store
 WHERE aggregate_type = 'Conversation' AND aggregate_id = 'c' || :stream \\gset
INSERT INTO bench_ceiling_store (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata, hash)
SELECT 'Conversation', 'c' || :stream, :last + 1, 'MessageSent', '1.0', {PAYLOAD}, {METADATA},
       CASE WHEN :last = 0 OR (SELECT hash FROM bench_ceiling_store
                                WHERE aggregate_type = 'Conversation' AND aggregate_id = 'c' || :stream
                                  AND sequence = :last) IS NOT NULL
            THEN sha256('link'::bytea) END
ON CONFLICT DO NOTHING;
"
    )
}

fn insert_script() -> String {
    format!(
        "\\set stream random(1, 1000000000)
INSERT INTO bench_ceiling_events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ('Conversation', 'i' || :stream, 1, 'MessageSent', '1.0', {PAYLOAD}, {METADATA})
ON CONFLICT DO NOTHING;
"
    )
}

fn database_url() -> Result<String> {
    std::env::var("DATABASE_URL").context("DATABASE_URL names the database pgbench runs in")
}

fn psql(url: &str, sql: &str) -> Result<()> {
    let status = Command::new("psql")
        .args([url, "-qX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .status()
        .context("running psql")?;
    if !status.success() {
        bail!("psql failed");
    }
    Ok(())
}

/// Transactions per second of `script` with `clients` clients.
fn pgbench(url: &str, script: &str, clients: usize, seconds: u64) -> Result<f64> {
    let path = std::env::temp_dir().join(format!("zekka-bench-{}.sql", std::process::id()));
    std::fs::write(&path, script)?;
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            &clients.clamp(1, 2).to_string(),
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&path)
        .arg(url)
        .output()
        .context("running pgbench")?;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    stdout
        .lines()
        .find(|line| line.starts_with("tps = "))
        .and_then(|line| line.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .context("pgbench printed no tps")
}

/// Measures both ceilings and returns their summary.
///
/// # Errors
/// When psql or pgbench fail.
pub fn measure(options: &Options) -> Result<Value> {
    let url = database_url()?;
    psql(&url, TABLE)?;
    let append = pgbench(
        &url,
        &append_script("bench_ceiling_events"),
        options.clients,
        options.seconds,
    )?;
    let insert = pgbench(&url, &insert_script(), options.clients, options.seconds)?;
    let store_append = pgbench(&url, &store_append_script(), options.clients, options.seconds)?;
    psql(&url, DROP)?;
    Ok(json!({
        "clients": options.clients,
        "seconds": options.seconds,
        "append_per_second": append,
        "insert_per_second": insert,
        "store_append_per_second": store_append,
    }))
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When psql or pgbench fail.
pub fn run(options: &Options) -> Result<()> {
    let mut result = measure(options)?;
    result["scenario"] = json!("limit");
    println!("{result}");
    println!(
        "pgbench, {} clients: read-then-append {:.0}/s, single insert {:.0}/s, \
         read-then-append on the store's own schema {:.0}/s",
        options.clients,
        result["append_per_second"].as_f64().unwrap_or(f64::NAN),
        result["insert_per_second"].as_f64().unwrap_or(f64::NAN),
        result["store_append_per_second"].as_f64().unwrap_or(f64::NAN)
    );
    Ok(())
}
