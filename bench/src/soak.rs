//! `soak`: minutes of mixed load (SendMessage, RecordTokenUsage, project
//! stats) at a fixed rate, with PostgreSQL stopped for a few seconds in the
//! middle (`pg_ctlcluster`, as on the CI machine). At the end every write
//! that was acknowledged is looked up in the event store: none may be
//! missing, and errors may only fall in the outage (plus the seconds the
//! pools take to reconnect).
//!
//! Needs `DATABASE_URL` (set by `bench/run.sh`) and a local Debian cluster.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zekka_client::Server;

use anyhow::{Context, Result, bail};
use serde_json::json;
use zekka_client::{Answer, Connection, Method};

use crate::load::{self, Call, Plan};
use crate::report;
use crate::setup::{self, Lane, signed_in_user};

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Minutes of load.
    pub minutes: f64,
    /// Requests per second (a third of each kind).
    pub rate: f64,
    /// Seconds PostgreSQL stays stopped, half-way through.
    pub outage_seconds: u64,
    /// Connections sending.
    pub connections: usize,
}

/// The mixed load, and what it saw.
struct Mixed {
    token: Arc<str>,
    lanes: Vec<Lane>,
    started: Instant,
    messages: Mutex<Vec<String>>,
    usages: Mutex<Vec<String>>,
    /// Milliseconds since `started` of every failed request.
    failures: Mutex<Vec<u64>>,
    /// The first failure of each kind, for the report.
    first_failure: Mutex<Option<String>>,
    last_success_ms: AtomicU64,
}

impl Plan for Mixed {
    fn call(&self, _worker: usize, n: u64) -> Call {
        let lane = &self.lanes[((n / 3) % self.lanes.len() as u64) as usize];
        let token = Some(self.token.clone());
        match n % 3 {
            0 => Call {
                method: Method::POST,
                path: format!("/api/v1/conversations/{}/messages", lane.conversation),
                token,
                body: Some(json!({"content": format!("soak {n}")})),
                expect: 201,
            },
            1 => Call {
                method: Method::POST,
                path: format!("/api/v1/agents/{}/usage", lane.agent),
                token,
                body: Some(json!({"model": "llama3.1:8b", "input_tokens": 100, "output_tokens": 50})),
                expect: 201,
            },
            _ => Call {
                method: Method::GET,
                path: format!("/api/v1/projects/{}/stats", lane.project),
                token,
                body: None,
                expect: 200,
            },
        }
    }

    fn answered(&self, n: u64, answer: &Answer) {
        let at = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_success_ms.fetch_max(at, Ordering::Relaxed);
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&answer.body) else {
            return;
        };
        let (list, field) = match n % 3 {
            0 => (&self.messages, "id"),
            1 => (&self.usages, "usage_id"),
            _ => return,
        };
        if let (Some(id), Ok(mut list)) = (body[field].as_str(), list.lock()) {
            list.push(id.to_owned());
        }
    }

    fn failed(&self, _n: u64, error: &str) {
        let at = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(at);
        }
        if let Ok(mut first) = self.first_failure.lock() {
            first.get_or_insert_with(|| error.chars().take(300).collect());
        }
    }
}

fn pg_ctl(action: &str) -> Result<()> {
    let version = std::fs::read_dir("/etc/postgresql")
        .context("no Debian PostgreSQL cluster under /etc/postgresql")?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .next()
        .context("no cluster version")?;
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .status()
        .context("running pg_ctlcluster")?;
    if !status.success() {
        bail!("pg_ctlcluster {action} failed");
    }
    Ok(())
}

async fn lanes(server: &Server, count: usize) -> Result<(String, Vec<Lane>)> {
    let mut connection = Connection::open(server)?;
    let token = signed_in_user(&mut connection).await?;
    let lanes = setup::lanes(&mut connection, &token, count, "llama3.1:8b").await?;
    Ok((token, lanes))
}

/// How many of `ids` (of `event_type`, whose id is `field`) are stored.
async fn stored(
    client: &tokio_postgres::Client,
    event_type: &str,
    field: &str,
    ids: &[String],
) -> Result<usize> {
    let row = client
        .query_one(
            "SELECT count(DISTINCT payload -> event_type ->> $2) FROM events
              WHERE event_type = $1 AND payload -> event_type ->> $2 = ANY($3)",
            &[&event_type, &field, &ids],
        )
        .await?;
    Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server or the database cannot be reached, or PostgreSQL cannot
/// be stopped and started.
pub async fn run(options: Options) -> Result<()> {
    let (token, lanes) = lanes(&options.server, 8).await?;
    let mixed = Arc::new(Mixed {
        token: token.into(),
        lanes,
        started: Instant::now(),
        messages: Mutex::new(Vec::new()),
        usages: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        first_failure: Mutex::new(None),
        last_success_ms: AtomicU64::new(0),
    });
    let duration = Duration::from_secs_f64(options.minutes * 60.0);
    let outage_at = duration / 2;
    let outage = Duration::from_secs(options.outage_seconds);
    let fault = tokio::spawn(async move {
        tokio::time::sleep(outage_at).await;
        let stopped = Instant::now();
        tokio::task::spawn_blocking(|| pg_ctl("stop")).await??;
        tokio::time::sleep(outage).await;
        tokio::task::spawn_blocking(|| pg_ctl("start")).await??;
        anyhow::Ok((stopped, Instant::now()))
    });
    let plan: Arc<dyn Plan> = mixed.clone();
    let outcome =
        load::fixed_rate(&options.server, plan, options.connections, options.rate, duration).await?;
    let (stopped, started_again) = fault.await??;

    let millis =
        |at: Instant| u64::try_from(at.saturating_duration_since(mixed.started).as_millis()).unwrap_or(0);
    let (outage_from, outage_to) = (millis(stopped), millis(started_again));
    let failures = mixed.failures.lock().map(|f| f.clone()).unwrap_or_default();
    // The pools reconnect on their next use after the restart.
    let grace = 10_000;
    let during = failures
        .iter()
        .filter(|at| **at + 500 >= outage_from && **at <= outage_to + grace)
        .count();
    let outside = failures.len() - during;
    let first_success_after = {
        // Successes are not all timed; the first failure-free second after
        // the restart is a fair proxy for recovery.
        let last_failure = failures.iter().copied().filter(|at| *at >= outage_from).max();
        last_failure.map_or(0, |last| last.saturating_sub(outage_to))
    };

    let url = std::env::var("DATABASE_URL").context("DATABASE_URL names the database to check")?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let messages = mixed.messages.lock().map(|m| m.clone()).unwrap_or_default();
    let usages = mixed.usages.lock().map(|u| u.clone()).unwrap_or_default();
    let stored_messages = stored(&client, "MessageSent", "message_id", &messages).await?;
    let stored_usages = stored(&client, "TokenUsageRecorded", "usage_id", &usages).await?;
    let acknowledged = messages.len() + usages.len();
    let lost = acknowledged - stored_messages - stored_usages;
    let result = json!({
        "scenario": "soak",
        "minutes": options.minutes,
        "rate": options.rate,
        "outage_seconds": options.outage_seconds,
        "requests": outcome.summary(),
        "acknowledged_writes": acknowledged,
        "lost_acknowledged_writes": lost,
        "errors_during_outage": during,
        "errors_outside_outage": outside,
        "seconds_to_recover_after_start": first_success_after as f64 / 1000.0,
        "first_failure": mixed.first_failure.lock().ok().and_then(|f| f.clone()),
    });
    println!("{result}");
    report::print_header();
    report::print_row("mixed", &outcome.latency, outcome.elapsed.as_secs_f64());
    println!(
        "acknowledged writes {acknowledged}, lost {lost}; errors {during} during the outage, {outside} outside it; \
         last error {:.1} s after PostgreSQL was back",
        first_success_after as f64 / 1000.0
    );
    Ok(())
}
