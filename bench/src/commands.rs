//! `commands`: SendMessage and RecordTokenUsage over HTTP, authenticated,
//! from `--clients` keep-alive connections, each on aggregates of its own
//! (a project, a conversation in it and an agent charging usage to it).
//!
//! 1. The ceiling: `limit`'s pgbench scripts, right before, same clients.
//! 2. As fast as the clients go (closed loop): the maximum rate.
//! 3. At half that rate (open loop): the latency a user sees when the
//!    server is not saturated.
//!
//! It also reports the server's peak resident memory (`memory`).

use std::sync::Arc;
use std::time::Duration;
use zekka_client::Server;

use anyhow::Result;
use serde_json::json;
use zekka_client::{Connection, Method};

use crate::load::{self, Call, Plan};
use crate::setup::{self, Lane, signed_in_user};
use crate::{limit, report};

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Concurrent connections (and pgbench clients).
    pub clients: usize,
    /// Seconds for each phase.
    pub seconds: u64,
    /// Measure the pgbench ceiling first.
    pub ceiling: bool,
    /// The server's process id, for its memory.
    pub server_pid: Option<u32>,
}

struct Commands {
    token: Arc<str>,
    lanes: Vec<Lane>,
}

impl Plan for Commands {
    fn call(&self, worker: usize, n: u64) -> Call {
        let lane = &self.lanes[worker % self.lanes.len()];
        if n.is_multiple_of(2) {
            Call {
                method: Method::POST,
                path: format!("/api/v1/conversations/{}/messages", lane.conversation),
                token: Some(self.token.clone()),
                body: Some(json!({"content": format!("benchmark message {n}: the quick brown fox")})),
                expect: 201,
            }
        } else {
            Call {
                method: Method::POST,
                path: format!("/api/v1/agents/{}/usage", lane.agent),
                token: Some(self.token.clone()),
                body: Some(json!({"model": "claude-sonnet", "input_tokens": 1200, "output_tokens": 350})),
                expect: 201,
            }
        }
    }
}

async fn lanes(server: &Server, count: usize) -> Result<Commands> {
    let mut connection = Connection::open(server)?;
    let token = signed_in_user(&mut connection).await?;
    let lanes = setup::lanes(&mut connection, &token, count, "claude-sonnet").await?;
    Ok(Commands {
        token: token.into(),
        lanes,
    })
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server cannot be reached, setup is refused, or pgbench fails.
pub async fn run(options: Options) -> Result<()> {
    let ceiling = if options.ceiling {
        let limits = limit::Options {
            clients: options.clients,
            seconds: options.seconds,
        };
        Some(tokio::task::spawn_blocking(move || limit::measure(&limits)).await??)
    } else {
        None
    };
    let plan: Arc<dyn Plan> = Arc::new(lanes(&options.server, options.clients).await?);
    let duration = Duration::from_secs(options.seconds);
    // A few seconds to warm caches and connection pools.
    load::closed_loop(
        &options.server,
        plan.clone(),
        options.clients,
        Duration::from_secs(3),
    )
    .await?;
    let saturated = load::closed_loop(&options.server, plan.clone(), options.clients, duration).await?;
    let half_rate = saturated.rate() / 2.0;
    let half = load::fixed_rate(&options.server, plan, options.clients, half_rate, duration).await?;
    let memory = report::server_memory(options.server_pid);
    let ceiling_of = |key: &str| ceiling.as_ref().and_then(|c| c[key].as_f64()).unwrap_or(f64::NAN);
    let (append_ceiling, store_ceiling) = (
        ceiling_of("append_per_second"),
        ceiling_of("store_append_per_second"),
    );
    let result = json!({
        "scenario": "commands",
        "clients": options.clients,
        "seconds": options.seconds,
        "ceiling": ceiling,
        "saturated": saturated.summary(),
        "half_rate": half.summary(),
        "ratio_to_ceiling": saturated.rate() / append_ceiling,
        "ratio_to_store_ceiling": saturated.rate() / store_ceiling,
        "server_peak_rss_mib": memory.map(|(peak, _)| peak),
    });
    println!("{result}");
    report::print_header();
    report::print_row("saturated", &saturated.latency, saturated.elapsed.as_secs_f64());
    report::print_row("half rate", &half.latency, half.elapsed.as_secs_f64());
    println!(
        "commands/s {:.0} = {:.0} % of the pgbench append ceiling {:.0}/s; errors {} + {}",
        saturated.rate(),
        100.0 * saturated.rate() / append_ceiling,
        append_ceiling,
        saturated.errors,
        half.errors
    );
    println!(
        "          = {:.0} % of the same append on the store's own schema (indexes, hash chain) {:.0}/s",
        100.0 * saturated.rate() / store_ceiling,
        store_ceiling
    );
    if let Some((peak, _)) = memory {
        println!("server peak RSS {peak:.0} MiB");
    }
    Ok(())
}
