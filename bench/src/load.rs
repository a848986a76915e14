//! Driving load: a scenario says which request to send (a [`Plan`]); the
//! drivers here send them, either as fast as `workers` keep-alive
//! connections allow ([`closed_loop`]) or at a fixed rate ([`fixed_rate`]),
//! and record every latency in an HDR histogram.
//!
//! At a fixed rate a request's latency counts from when it was *due*, not
//! from when a connection got round to it, so a stalled server shows up in
//! the percentiles instead of hiding behind fewer requests
//! (no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};
use zekka_client::Server;

use anyhow::Result;
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::mpsc;
use zekka_client::{Answer, Connection, Method};

use crate::report;

/// One request to send, and the status that counts as success.
pub struct Call {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path: String,
    /// The bearer token.
    pub token: Option<Arc<str>>,
    /// The JSON body.
    pub body: Option<Value>,
    /// The status a success answers.
    pub expect: u16,
}

/// What a scenario sends.
pub trait Plan: Send + Sync + 'static {
    /// The `n`th request overall, sent by connection `worker`.
    fn call(&self, worker: usize, n: u64) -> Call;

    /// Sees each successful answer (to follow consistency tokens, say).
    fn answered(&self, _n: u64, _answer: &Answer) {}

    /// Sees each failure (to place it in time, say).
    fn failed(&self, _n: u64, _error: &str) {}
}

/// GETs of `paths` in turn, each expecting 200, as one person.
pub struct RoundRobinReads {
    /// The reader's bearer token.
    pub token: Arc<str>,
    /// The paths read, in turn.
    pub paths: Vec<String>,
}

impl Plan for RoundRobinReads {
    fn call(&self, _worker: usize, n: u64) -> Call {
        Call {
            method: Method::GET,
            path: self.paths[(n % self.paths.len().max(1) as u64) as usize].clone(),
            token: Some(self.token.clone()),
            body: None,
            expect: 200,
        }
    }
}

/// What a run measured.
pub struct Outcome {
    /// Latencies of successful requests, in microseconds.
    pub latency: Histogram<u64>,
    /// Requests that failed or answered another status.
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Outcome {
    fn new() -> Self {
        Self {
            latency: report::latency_histogram(),
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
        }
    }

    fn merge(&mut self, other: Self) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.latency.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The summary for the JSON line: counts, rate and percentiles.
    pub fn summary(&self) -> Value {
        let mut summary = report::summary(&self.latency);
        summary["per_second"] = serde_json::json!(self.rate());
        summary["p999_ms"] = serde_json::json!(self.latency.value_at_quantile(0.999) as f64 / 1000.0);
        summary["errors"] = serde_json::json!(self.errors);
        if let Some(error) = &self.first_error {
            summary["first_error"] = serde_json::json!(error);
        }
        summary
    }
}

async fn send(connection: &mut Connection, plan: &dyn Plan, worker: usize, n: u64) -> Result<(), String> {
    let result = exchange(connection, plan, worker, n).await;
    if let Err(error) = &result {
        plan.failed(n, error);
    }
    result
}

async fn exchange(connection: &mut Connection, plan: &dyn Plan, worker: usize, n: u64) -> Result<(), String> {
    let call = plan.call(worker, n);
    let answer = connection
        .send(call.method, &call.path, call.token.as_deref(), call.body.as_ref())
        .await
        .map_err(|error| format!("{}: {error}", call.path))?;
    if answer.status != call.expect {
        return Err(format!(
            "{} answered {}: {}",
            call.path,
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    plan.answered(n, &answer);
    Ok(())
}

/// The latency above which a request is logged to stderr with the wall
/// time it ended (`ZEKKA_BENCH_SLOW_MS`; unset: none is), so a tail can be
/// laid beside the server's and PostgreSQL's logs.
fn slow_threshold() -> Option<Duration> {
    static THRESHOLD: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *THRESHOLD.get_or_init(|| {
        std::env::var("ZEKKA_BENCH_SLOW_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis)
    })
}

fn log_if_slow(latency: Duration) {
    if slow_threshold().is_some_and(|threshold| latency >= threshold) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let of_day = now.as_millis() % 86_400_000;
        eprintln!(
            "slow request ended at {:02}:{:02}:{:02}.{:03} UTC after {:.1} ms",
            of_day / 3_600_000,
            of_day / 60_000 % 60,
            of_day / 1000 % 60,
            of_day % 1000,
            latency.as_secs_f64() * 1000.0
        );
    }
}

fn count(outcome: &mut Outcome, result: Result<(), String>, latency: Duration) {
    log_if_slow(latency);
    match result {
        Ok(()) => report::record(&mut outcome.latency, latency),
        Err(error) => {
            outcome.errors += 1;
            outcome.first_error.get_or_insert(error);
        }
    }
}

/// Sends requests back to back on `workers` connections for `duration`.
///
/// # Errors
/// When a connection cannot be opened.
pub async fn closed_loop(
    server: &Server,
    plan: Arc<dyn Plan>,
    workers: usize,
    duration: Duration,
) -> Result<Outcome> {
    let started = Instant::now();
    let deadline = started + duration;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let mut connection = Connection::open(server)?;
        let (plan, next) = (plan.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcome = Outcome::new();
            while Instant::now() < deadline {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let sent = Instant::now();
                let result = send(&mut connection, plan.as_ref(), worker, n).await;
                count(&mut outcome, result, sent.elapsed());
            }
            outcome
        }));
    }
    collect(tasks, started).await
}

/// Sends `rate` requests a second for `duration`, spread over `connections`
/// connections.
///
/// # Errors
/// When a connection cannot be opened.
pub async fn fixed_rate(
    server: &Server,
    plan: Arc<dyn Plan>,
    connections: usize,
    rate: f64,
    duration: Duration,
) -> Result<Outcome> {
    let connections = connections.max(1);
    let mut queues = Vec::new();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let mut connection = Connection::open(server)?;
        let (queue, mut due) = mpsc::unbounded_channel::<(u64, Instant)>();
        queues.push(queue);
        let plan = plan.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcome = Outcome::new();
            while let Some((n, at)) = due.recv().await {
                let result = send(&mut connection, plan.as_ref(), worker, n).await;
                count(&mut outcome, result, at.elapsed());
            }
            outcome
        }));
    }
    let started = Instant::now();
    let total = (rate * duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    for n in 0..total {
        let at = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(at.into()).await;
        let queue = &queues[(n % connections as u64) as usize];
        if queue.send((n, at)).is_err() {
            break;
        }
    }
    drop(queues);
    collect(tasks, started).await
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Outcome>>, started: Instant) -> Result<Outcome> {
    let mut total = Outcome::new();
    for task in tasks {
        total.merge(task.await?);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
