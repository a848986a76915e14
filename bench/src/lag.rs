//! `lag`: how long after a command's `201` its effect is visible in the read
//! model, under a steady rate of SendMessage.
//!
//! Each answer's `X-Consistency-Token` names the event's commit position; a
//! watcher reads the `conversations` projection's checkpoint every
//! millisecond and, once the checkpoint reaches a position, records the time
//! since that answer arrived. The resolution is the polling interval (1 ms).
//! Needs `DATABASE_URL` (set by `bench/run.sh`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zekka_client::Server;

use anyhow::{Context, Result};
use serde_json::json;
use zekka_client::{Answer, Connection, Method};

use crate::load::{self, Call, Plan};
use crate::report;
use crate::setup::{create, signed_in_user};

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Commands per second.
    pub rate: f64,
    /// Seconds to run.
    pub seconds: u64,
    /// Connections sending.
    pub connections: usize,
}

/// A commit position: (transaction id, global position).
type Position = (u64, i64);

struct Sends {
    token: Arc<str>,
    conversations: Vec<String>,
    answered: Mutex<Vec<(Position, Instant)>>,
    /// Set once every command has been answered.
    finished: AtomicBool,
}

fn position(answer: &Answer) -> Option<Position> {
    let token = answer.headers.get("x-consistency-token")?.to_str().ok()?;
    let mut parts = token.strip_prefix("v1.")?.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

impl Plan for Sends {
    fn call(&self, _worker: usize, n: u64) -> Call {
        let conversation = &self.conversations[(n % self.conversations.len() as u64) as usize];
        Call {
            method: Method::POST,
            path: format!("/api/v1/conversations/{conversation}/messages"),
            token: Some(self.token.clone()),
            body: Some(json!({"content": format!("lag probe {n}")})),
            expect: 201,
        }
    }

    fn answered(&self, _n: u64, answer: &Answer) {
        if let Some(position) = position(answer)
            && let Ok(mut answered) = self.answered.lock()
        {
            answered.push((position, Instant::now()));
        }
    }
}

/// Follows the checkpoint, recording the lag of every answered command.
async fn watch(sends: Arc<Sends>) -> Result<hdrhistogram::Histogram<u64>> {
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL names the database to watch")?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let statement = client
        .prepare(
            "SELECT transaction_id::text, global_position FROM projection_checkpoints
              WHERE name = 'conversations'",
        )
        .await?;
    let mut lag = report::latency_histogram();
    let mut finished_at = None;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let row = client.query_opt(&statement, &[]).await?;
        let now = Instant::now();
        let checkpoint: Position = match row {
            Some(row) => (row.get::<_, String>(0).parse().unwrap_or(0), row.get(1)),
            None => (0, 0),
        };
        let pending = {
            let mut answered = sends
                .answered
                .lock()
                .map_err(|_| anyhow::anyhow!("lock poisoned"))?;
            let (seen, waiting): (Vec<_>, Vec<_>) = answered.drain(..).partition(|(p, _)| *p <= checkpoint);
            *answered = waiting;
            for (_, at) in seen {
                report::record(&mut lag, now.saturating_duration_since(at));
            }
            answered.len()
        };
        if sends.finished.load(Ordering::Acquire) {
            let finished_at = *finished_at.get_or_insert(now);
            if pending == 0 {
                return Ok(lag);
            }
            if now > finished_at + Duration::from_secs(30) {
                anyhow::bail!("{pending} commands never became visible");
            }
        }
    }
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server or the database cannot be reached, or setup is refused.
pub async fn run(options: Options) -> Result<()> {
    let mut connection = Connection::open(&options.server)?;
    let token = signed_in_user(&mut connection).await?;
    let project = create(
        &mut connection,
        &token,
        "/api/v1/projects",
        &json!({"name": "Lag"}),
    )
    .await?;
    let mut conversations = Vec::new();
    for n in 0..options.connections {
        conversations.push(
            create(
                &mut connection,
                &token,
                "/api/v1/conversations",
                &json!({"project_id": project, "title": format!("Lag {n}")}),
            )
            .await?,
        );
    }
    let sends = Arc::new(Sends {
        token: token.into(),
        conversations,
        answered: Mutex::new(Vec::new()),
        finished: AtomicBool::new(false),
    });
    let duration = Duration::from_secs(options.seconds);
    let watcher = tokio::spawn(watch(sends.clone()));
    let plan: Arc<dyn Plan> = sends.clone();
    let commands =
        load::fixed_rate(&options.server, plan, options.connections, options.rate, duration).await?;
    sends.finished.store(true, Ordering::Release);
    let lag = watcher.await??;
    let result = json!({
        "scenario": "lag",
        "rate": options.rate,
        "seconds": options.seconds,
        "commands": commands.summary(),
        "lag": report::summary(&lag),
    });
    println!("{result}");
    report::print_header();
    report::print_row("command", &commands.latency, commands.elapsed.as_secs_f64());
    report::print_row("201 → visible", &lag, commands.elapsed.as_secs_f64());
    Ok(())
}
