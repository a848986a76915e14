//! `websocket`: `--sockets` WebSockets subscribed to one conversation while
//! messages are sent over REST at `--rate` per second; measures the delay
//! from each send to its arrival on every socket, and the server's peak
//! memory (`--server-pid`, from `/proc`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zekka_client::Server;

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use zekka_client::{Connection, Method};

use crate::report;
use crate::setup::{create, signed_in_user};

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Sockets to hold open.
    pub sockets: usize,
    /// Messages to send.
    pub messages: usize,
    /// Messages per second.
    pub rate: f64,
    /// The server's process id, to read its memory.
    pub server_pid: Option<u32>,
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server cannot be reached or refuses a request.
pub async fn run(options: Options) -> Result<()> {
    let mut setup = Connection::open(&options.server)?;
    let token = signed_in_user(&mut setup).await?;
    let project = create(
        &mut setup,
        &token,
        "/api/v1/projects",
        &json!({"name": "Sockets"}),
    )
    .await?;
    let conversation = create(
        &mut setup,
        &token,
        "/api/v1/conversations",
        &json!({"project_id": project, "title": "fan-out"}),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = report::server_memory(options.server_pid);

    // When each message was sent, by its content.
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(report::latency_histogram()));
    let opened = Instant::now();
    let mut readers = Vec::new();
    for n in 0..options.sockets {
        let url = options.server.websocket_url(&format!("/api/v1/ws?token={token}"));
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("socket {n}"))?;
        socket
            .send(Message::Text(
                json!({"type": "subscribe", "conversation_id": conversation})
                    .to_string()
                    .into(),
            ))
            .await?;
        let (sent_at, latencies, expected) = (sent_at.clone(), latencies.clone(), options.messages);
        readers.push(tokio::spawn(async move {
            let mut received = 0;
            while received < expected {
                let Some(Ok(frame)) = socket.next().await else {
                    return received;
                };
                let Message::Text(text) = frame else { continue };
                let arrived = Instant::now();
                let Ok(message) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                if message["type"] != "message:received" {
                    continue;
                }
                let content = message["data"]["content"].as_str().unwrap_or_default().to_owned();
                let started = sent_at.lock().ok().and_then(|s| s.get(&content).copied());
                if let (Some(started), Ok(mut histogram)) = (started, latencies.lock()) {
                    report::record(&mut histogram, arrived - started);
                }
                received += 1;
            }
            received
        }));
        if (n + 1) % 1000 == 0 {
            eprintln!("{} sockets open", n + 1);
        }
    }
    let open_seconds = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_sockets = report::server_memory(options.server_pid);

    let mut sender = Connection::open(&options.server)?;
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(0.1));
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let sending = Instant::now();
    let mut peak = with_sockets.map_or(0.0, |m| m.0);
    for n in 0..options.messages {
        let due = sending + interval * u32::try_from(n).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        let content = format!("m{n}");
        if let Ok(mut sent) = sent_at.lock() {
            sent.insert(content.clone(), Instant::now());
        }
        let answer = sender
            .send(
                Method::POST,
                &path,
                Some(&token),
                Some(&json!({"content": content})),
            )
            .await?;
        if answer.status != 201 {
            bail!("send answered {}", answer.status);
        }
        if n % 50 == 0
            && let Some((hwm, _)) = report::server_memory(options.server_pid)
        {
            peak = peak.max(hwm);
        }
    }
    let mut delivered = 0;
    let mut lost_sockets = 0;
    for reader in readers {
        match tokio::time::timeout(Duration::from_secs(30), reader).await {
            Ok(Ok(count)) => {
                delivered += count;
                if count < options.messages {
                    lost_sockets += 1;
                }
            }
            _ => lost_sockets += 1,
        }
    }
    let after = report::server_memory(options.server_pid);
    let histogram = latencies
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| report::latency_histogram());
    let result = json!({
        "scenario": "websocket",
        "sockets": options.sockets,
        "messages": options.messages,
        "rate_per_second": options.rate,
        "seconds_to_open_sockets": open_seconds,
        "deliveries": delivered,
        "expected_deliveries": options.sockets * options.messages,
        "sockets_short": lost_sockets,
        "delivery": report::summary(&histogram),
        "server_rss_mib": {
            "before_sockets": before.map(|m| m.1),
            "with_sockets": with_sockets.map(|m| m.1),
            "peak": after.map_or(peak, |m| m.0.max(peak)),
        },
    });
    println!("{result}");
    report::print_header();
    report::print_row("delivery", &histogram, sending.elapsed().as_secs_f64());
    Ok(())
}
