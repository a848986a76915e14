//! `send-message`: SendMessage latency in a short conversation and in one
//! already holding `--long` messages. The Conversation aggregate keeps only
//! counters and is snapshotted every 100 events, so the two should match.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zekka_client::Server;

use anyhow::{Result, bail};
use serde_json::json;
use zekka_client::Method;

use crate::report;
use crate::setup::{create, signed_in_user};
use zekka_client::Connection;

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Messages in the long conversation before measuring.
    pub long: u64,
    /// Messages in the short conversation before measuring.
    pub short: u64,
    /// Sends measured in each conversation.
    pub samples: u64,
    /// Connections filling the long conversation.
    pub fill_connections: usize,
}

async fn send(connection: &mut Connection, token: &str, conversation: &str, n: u64) -> Result<()> {
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let answer = connection
        .send(
            Method::POST,
            &path,
            Some(token),
            Some(&json!({"content": format!("message {n}")})),
        )
        .await?;
    if answer.status != 201 {
        bail!(
            "send answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    Ok(())
}

async fn fill(options: &Options, token: &str, conversation: &str, count: u64) -> Result<Duration> {
    let started = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..options.fill_connections {
        let (token, conversation, sent) = (token.to_owned(), conversation.to_owned(), sent.clone());
        let server = options.server.clone();
        workers.push(tokio::spawn(async move {
            let mut connection = Connection::open(&server)?;
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(());
                }
                send(&mut connection, &token, &conversation, n).await?;
                if n > 0 && n % 10_000 == 0 {
                    eprintln!("filled {n} / {count} in {:.0} s", started.elapsed().as_secs_f64());
                }
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(started.elapsed())
}

async fn measure(
    options: &Options,
    token: &str,
    conversation: &str,
) -> Result<(hdrhistogram::Histogram<u64>, f64)> {
    let mut connection = Connection::open(&options.server)?;
    let mut histogram = report::latency_histogram();
    let began = Instant::now();
    for n in 0..options.samples {
        let started = Instant::now();
        send(&mut connection, token, conversation, n).await?;
        report::record(&mut histogram, started.elapsed());
    }
    Ok((histogram, began.elapsed().as_secs_f64()))
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server cannot be reached or refuses a request.
pub async fn run(options: Options) -> Result<()> {
    let mut setup = Connection::open(&options.server)?;
    let token = signed_in_user(&mut setup).await?;
    let project = create(&mut setup, &token, "/api/v1/projects", &json!({"name": "Bench"})).await?;
    let conversation = |title: &str| json!({"project_id": project, "title": title});
    let short = create(
        &mut setup,
        &token,
        "/api/v1/conversations",
        &conversation("short"),
    )
    .await?;
    let long = create(&mut setup, &token, "/api/v1/conversations", &conversation("long")).await?;

    fill(&options, &token, &short, options.short).await?;
    let fill_time = fill(&options, &token, &long, options.long).await?;

    let (short_latency, short_seconds) = measure(&options, &token, &short).await?;
    let (long_latency, long_seconds) = measure(&options, &token, &long).await?;
    let short_p50 = short_latency.value_at_quantile(0.5) as f64;
    let long_p50 = long_latency.value_at_quantile(0.5) as f64;
    let result = json!({
        "scenario": "stream-length",
        "short_length": options.short,
        "long_length": options.long,
        "samples": options.samples,
        "fill_messages_per_second": options.long as f64 / fill_time.as_secs_f64(),
        "short": report::summary(&short_latency),
        "long": report::summary(&long_latency),
        "p50_ratio_long_to_short": long_p50 / short_p50,
        "p99_ratio_long_to_short": long_latency.value_at_quantile(0.99) as f64
            / short_latency.value_at_quantile(0.99) as f64,
    });
    println!("{result}");
    report::print_header();
    report::print_row(&format!("len {}", options.short), &short_latency, short_seconds);
    report::print_row(&format!("len {}", options.long), &long_latency, long_seconds);
    Ok(())
}
