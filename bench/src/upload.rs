//! `upload`: source uploads (issue 23) — 1 MB files one after another, then
//! 50 MB files — each timed from the first byte sent to the 201 (stored,
//! hashed and recorded), with the server's peak resident memory after them
//! (an upload streams: it must not hold a file in memory).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use serde_json::json;
use zekka_client::{Connection, Method, Server};

use crate::report;
use crate::setup::{create, signed_in_user};

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// 1 MB uploads.
    pub small: usize,
    /// 50 MB uploads.
    pub large: usize,
    /// The server's process id, for its memory.
    pub server_pid: Option<u32>,
}

/// Bytes that differ from file to file (so each is stored, not deduplicated).
fn file(size: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut bytes = Vec::with_capacity(size);
    while bytes.len() < size {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    Bytes::from(bytes)
}

async fn series(
    connection: &mut Connection,
    token: &str,
    project: &str,
    size: usize,
    count: usize,
    seed: u64,
) -> Result<hdrhistogram::Histogram<u64>> {
    let mut latency = report::latency_histogram();
    for n in 0..count {
        let body = file(size, seed + n as u64);
        let started = Instant::now();
        let answer = connection
            .send_bytes(
                Method::POST,
                &format!("/api/v1/projects/{project}/sources?name=bench-{seed}-{n}.bin"),
                Some(token),
                "application/octet-stream",
                body,
            )
            .await?;
        let elapsed = started.elapsed();
        if answer.status != 201 {
            bail!("upload answered {}", answer.status);
        }
        report::record(&mut latency, elapsed);
    }
    Ok(latency)
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server cannot be reached or refuses an upload.
pub async fn run(options: Options) -> Result<()> {
    let mut connection = Connection::open(&options.server)?;
    let token = signed_in_user(&mut connection).await?;
    let project = create(
        &mut connection,
        &token,
        "/api/v1/projects",
        &json!({"name": "Uploads"}),
    )
    .await?;
    report::print_header();
    let started = Instant::now();
    let small = series(&mut connection, &token, &project, 1024 * 1024, options.small, 1).await?;
    report::print_row("1 MB", &small, started.elapsed().as_secs_f64());
    let started = Instant::now();
    let large = series(
        &mut connection,
        &token,
        &project,
        50 * 1024 * 1024,
        options.large,
        1_000,
    )
    .await?;
    report::print_row("50 MB", &large, started.elapsed().as_secs_f64());
    // Let the allocator settle before reading the peak.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let memory = report::server_memory(options.server_pid);
    if let Some((peak, now)) = memory {
        println!("server peak RSS {peak:.0} MiB (now {now:.0} MiB)");
    }
    let result = json!({
        "scenario": "upload",
        "one_mb": report::summary(&small),
        "fifty_mb": report::summary(&large),
        "server_peak_rss_mib": memory.map(|(peak, _)| peak),
    });
    println!("{result}");
    Ok(())
}
