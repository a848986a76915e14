//! `login-healthz`: many concurrent sign-ins (argon2id on the blocking pool)
//! while a probe measures `GET /healthz`. If hashing ever ran on the async
//! runtime's workers, the probe's latency would climb to tens of
//! milliseconds per hash.

use std::time::{Duration, Instant};
use zekka_client::Server;

use anyhow::{Result, bail};
use serde_json::json;
use zekka_client::Method;

use crate::report;
use zekka_client::Connection;

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Sign-ins in flight at once.
    pub concurrency: usize,
    /// How long to run.
    pub duration: Duration,
    /// Time between two probes.
    pub probe_interval: Duration,
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server cannot be reached or refuses the set-up.
pub async fn run(options: Options) -> Result<()> {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "benchmark passphrase";
    let mut setup = Connection::open(&options.server)?;
    let registered = setup
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(&json!({"email": email, "password": password, "display_name": "Bench"})),
        )
        .await?;
    registered.json(201, "register")?;

    let deadline = Instant::now() + options.duration;
    let credentials = json!({"email": email, "password": password});
    let mut workers = Vec::new();
    for _ in 0..options.concurrency {
        let credentials = credentials.clone();
        let server = options.server.clone();
        workers.push(tokio::spawn(async move {
            let mut histogram = report::latency_histogram();
            let mut refused = 0_u64;
            let mut connection = Connection::open(&server)?;
            while Instant::now() < deadline {
                let started = Instant::now();
                let answer = connection
                    .send(Method::POST, "/api/v1/auth/login", None, Some(&credentials))
                    .await?;
                report::record(&mut histogram, started.elapsed());
                if answer.status != 200 {
                    refused += 1;
                }
            }
            anyhow::Ok((histogram, refused))
        }));
    }

    let mut probe = Connection::open(&options.server)?;
    let mut healthz = report::latency_histogram();
    let started = Instant::now();
    while Instant::now() < deadline {
        let sent = Instant::now();
        let answer = probe.send(Method::GET, "/healthz", None, None).await?;
        report::record(&mut healthz, sent.elapsed());
        if answer.status != 200 {
            bail!("/healthz answered {}", answer.status);
        }
        tokio::time::sleep(options.probe_interval).await;
    }

    let mut logins = report::latency_histogram();
    let mut refused = 0;
    for worker in workers {
        let (histogram, worker_refused) = worker.await??;
        logins.add(&histogram)?;
        refused += worker_refused;
    }
    let seconds = started.elapsed().as_secs_f64();
    let result = json!({
        "scenario": "login-storm",
        "concurrency": options.concurrency,
        "seconds": seconds,
        "logins": report::summary(&logins),
        "logins_per_second": logins.len() as f64 / seconds,
        "logins_refused": refused,
        "healthz": report::summary(&healthz),
    });
    println!("{result}");
    report::print_header();
    report::print_row("login", &logins, seconds);
    report::print_row("healthz", &healthz, seconds);
    if refused > 0 {
        println!("warning: {refused} sign-ins were refused (rate limits? set ZEKKA_RATE_LIMIT_MULTIPLIER)");
    }
    Ok(())
}
