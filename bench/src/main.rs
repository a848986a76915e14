//! `zekka-bench`: named load scenarios against a running Zekka.
//!
//! Each scenario prints one JSON line (to paste into `docs/performance.md`)
//! and a human table. Run them through `bench/run.sh`, which builds a release
//! binary and starts `zekka up` on a database of its own.
//!
//! # Layout
//! - `client`: one keep-alive HTTP/1.1 connection.
//! - `report`: HDR histograms and the output.
//! - `login_healthz`: the `login-healthz` scenario.
#![forbid(unsafe_code)]

mod client;
mod login_healthz;
mod report;

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
    }
}
