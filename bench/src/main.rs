//! `zekka-bench`: named load scenarios against a running Zekka.
//!
//! Each scenario prints one JSON line (to paste into `docs/performance.md`)
//! and a human table. Run them through `bench/run.sh`, which builds a release
//! binary and starts `zekka up` on a database of its own.
//!
//! # Layout
//! - `report`: HDR histograms and the output.
//! - `setup`: accounts, sessions and resources a scenario needs.
//! - `login_healthz`: the `login-healthz` scenario.
//! - `send_message`: the `send-message` scenario.
//! - `websocket`: the `websocket` scenario.
#![forbid(unsafe_code)]

mod login_healthz;
mod report;
mod send_message;
mod setup;
mod websocket;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Load scenarios for Zekka.
#[derive(Parser)]
#[command(about)]
struct Cli {
    /// The server under test.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Concurrent sign-ins while probing `GET /healthz` latency.
    LoginHealthz {
        /// Sign-ins in flight at once.
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Milliseconds between two probes.
        #[arg(long, default_value_t = 10)]
        probe_interval_ms: u64,
    },
    /// Sockets subscribed to one conversation; delivery latency of messages
    /// sent over REST, and the server's memory.
    Websocket {
        /// Sockets to hold open.
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        /// Messages to send.
        #[arg(long, default_value_t = 100)]
        messages: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// The server's process id, for its memory (`bench/run.sh` sets
        /// `ZEKKA_SERVER_PID`).
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// SendMessage latency in a short and in a very long conversation.
    SendMessage {
        /// Messages in the long conversation before measuring.
        #[arg(long, default_value_t = 100_000)]
        long: u64,
        /// Messages in the short conversation before measuring.
        #[arg(long, default_value_t = 10)]
        short: u64,
        /// Sends measured in each conversation.
        #[arg(long, default_value_t = 500)]
        samples: u64,
        /// Connections filling the long conversation.
        #[arg(long, default_value_t = 8)]
        fill_connections: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.scenario {
        Scenario::LoginHealthz {
            concurrency,
            seconds,
            probe_interval_ms,
        } => {
            login_healthz::run(login_healthz::Options {
                addr: cli.addr,
                concurrency,
                duration: Duration::from_secs(seconds),
                probe_interval: Duration::from_millis(probe_interval_ms),
            })
            .await
        }
        Scenario::Websocket {
            sockets,
            messages,
            rate,
            server_pid,
        } => {
            websocket::run(websocket::Options {
                addr: cli.addr,
                sockets,
                messages,
                rate,
                server_pid: server_pid.or_else(|| std::env::var("ZEKKA_SERVER_PID").ok()?.parse().ok()),
            })
            .await
        }
        Scenario::SendMessage {
            long,
            short,
            samples,
            fill_connections,
        } => {
            send_message::run(send_message::Options {
                addr: cli.addr,
                long,
                short,
                samples,
                fill_connections,
            })
            .await
        }
    }
}
