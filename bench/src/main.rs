//! `zekka-bench`: named load scenarios against a running Zekka.
//!
//! Each scenario prints one JSON line (to paste into `docs/performance.md`)
//! and a human table. Run them through `bench/run.sh`, which builds a release
//! binary and starts `zekka up` on a database of its own.
//!
//! # Layout
//! - `report`: HDR histograms and the output.
//! - `load`: the drivers (closed loop, fixed rate) scenarios plug a plan into.
//! - `setup`: accounts, sessions and resources a scenario needs.
//! - one module per scenario: `limit` (pgbench ceiling), `commands`
//!   (with the server's peak memory), `send_message` (`stream-length`),
//!   `lag`, `queries`, `login_healthz` (`login-storm`), `websocket`,
//!   `soak` (issue 10: a PostgreSQL restart under load), `peer` (bare
//!   cqrs-es + postgres-es, issue 25), `catch-up` (a projector's read of
//!   the whole store, for `bench/scale.sh`).
//!   `rebuild` is `bench/rebuild.sh` (it needs a million-event fixture);
//!   `audit` runs through `bench/audit.sh`, on the same fixture; `upload`
//!   (source uploads, issue 23); `search` (issue 23).
//!
//! `ZEKKA_BENCH_SLOW_MS=20` logs every request slower than 20 ms, with the
//! time it ended, to lay a latency tail beside the server's logs.
#![forbid(unsafe_code)]

mod audit;
mod catch_up;
mod commands;
mod doc;
mod lag;
mod limit;
mod load;
mod login_healthz;
mod peer;
mod queries;
mod report;
mod search;
mod send_message;
mod setup;
mod soak;
mod upload;
mod websocket;

use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Load scenarios for Zekka.
#[derive(Parser)]
#[command(about)]
struct Cli {
    /// The server under test, `http://host:port` or `https://…`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: zekka_client::Server,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Rewrites the summary in docs/performance.md from a run's JSON lines
    /// (what `bench/all.sh` ends with).
    Report {
        /// The JSON lines, one per scenario (other lines are skipped).
        #[arg(long)]
        results: std::path::PathBuf,
        /// The page to rewrite.
        #[arg(long, default_value = "docs/performance.md")]
        doc: std::path::PathBuf,
    },
    /// SendMessage and RecordTokenUsage over HTTP from many clients, next to
    /// the pgbench ceiling measured right before; the server's peak memory.
    Commands {
        /// Concurrent connections (and pgbench clients).
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds per phase.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Skip the pgbench ceiling.
        #[arg(long)]
        no_ceiling: bool,
    },
    /// cqrs-es + postgres-es alone, in process: one event per command on
    /// fresh aggregates, the framework Zekka is compared with.
    Peer {
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// A projector's catch-up from position 0 through the event store's
    /// own batched read, nothing projected (`bench/scale.sh`).
    CatchUp {
        /// Events per read (the projectors' default batch).
        #[arg(long, default_value_t = 10_000)]
        batch: i64,
    },
    /// PostgreSQL's own ceiling for a command-shaped append (pgbench).
    Limit {
        /// Concurrent pgbench clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds per script.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Time from a command's 201 to its effect in the read model, at a
    /// steady rate of SendMessage.
    Lag {
        /// Commands per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds to run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Connections sending.
        #[arg(long, default_value_t = 16)]
        connections: usize,
    },
    /// The audit log of a large store: a member's and an auditor's page of
    /// `/audit/events`, and a verification job followed to its end (run by
    /// `bench/audit.sh` on the million-event fixture).
    Audit {
        /// Page reads per second, per series.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Seconds per series.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// An auditor's address (granted with `zekka users grant-role`).
        #[arg(long, requires = "auditor_password")]
        auditor_email: Option<String>,
        /// That auditor's password.
        #[arg(long)]
        auditor_password: Option<String>,
    },
    /// Source uploads: 1 MB files, then 50 MB files, each timed to its
    /// 201, and the server's peak memory.
    Upload {
        /// 1 MB uploads.
        #[arg(long, default_value_t = 20)]
        small: usize,
        /// 50 MB uploads.
        #[arg(long, default_value_t = 5)]
        large: usize,
    },
    /// `GET /search` at a fixed rate over 100,000 messages and 1,000 text
    /// sources across 100 projects, per kind of query and mixed.
    Search {
        /// Messages in the corpus.
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// Text sources in the corpus.
        #[arg(long, default_value_t = 1_000)]
        sources: usize,
        /// Projects they are spread over.
        #[arg(long, default_value_t = 100)]
        projects: usize,
        /// Searches per second.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        /// Seconds per series.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Connections searching.
        #[arg(long, default_value_t = 4)]
        connections: usize,
    },
    /// Project stats and analytics routes at a fixed rate.
    Queries {
        /// Requests per second.
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        /// Seconds to run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Connections sending.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Usage records in the project's history.
        #[arg(long, default_value_t = 3000)]
        usage_records: usize,
    },
    /// Minutes of mixed load with PostgreSQL stopped half-way: no
    /// acknowledged write may be lost, errors only during the outage.
    Soak {
        /// Minutes of load.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// Requests per second (a third each: messages, usage, stats).
        #[arg(long, default_value_t = 300.0)]
        rate: f64,
        /// Seconds PostgreSQL stays stopped.
        #[arg(long, default_value_t = 5)]
        outage_seconds: u64,
        /// Connections sending.
        #[arg(long, default_value_t = 16)]
        connections: usize,
    },
    /// Concurrent sign-ins while probing `GET /healthz` latency.
    #[command(alias = "login-healthz")]
    LoginStorm {
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
    #[command(alias = "send-message")]
    StreamLength {
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
    let server_pid_from_env = std::env::var("ZEKKA_SERVER_PID")
        .ok()
        .and_then(|pid| pid.parse().ok());
    match cli.scenario {
        Scenario::Report { results, doc } => doc::run(&results, &doc),
        Scenario::Commands {
            clients,
            seconds,
            no_ceiling,
        } => {
            commands::run(commands::Options {
                server: cli.server.clone(),
                clients,
                seconds,
                ceiling: !no_ceiling,
                server_pid: server_pid_from_env,
            })
            .await
        }
        Scenario::Peer { clients, seconds } => peer::run(peer::Options { clients, seconds }).await,
        Scenario::CatchUp { batch } => catch_up::run(catch_up::Options { batch }).await,
        Scenario::Limit { clients, seconds } => limit::run(&limit::Options { clients, seconds }),
        Scenario::Upload { small, large } => {
            upload::run(upload::Options {
                server: cli.server.clone(),
                small,
                large,
                server_pid: server_pid_from_env,
            })
            .await
        }
        Scenario::Search {
            messages,
            sources,
            projects,
            rate,
            seconds,
            connections,
        } => {
            search::run(search::Options {
                server: cli.server.clone(),
                messages,
                sources,
                projects,
                rate,
                seconds,
                connections,
            })
            .await
        }
        Scenario::Audit {
            rate,
            seconds,
            auditor_email,
            auditor_password,
        } => {
            audit::run(audit::Options {
                server: cli.server.clone(),
                rate,
                seconds,
                auditor: auditor_email.zip(auditor_password),
            })
            .await
        }
        Scenario::Lag {
            rate,
            seconds,
            connections,
        } => {
            lag::run(lag::Options {
                server: cli.server.clone(),
                rate,
                seconds,
                connections,
            })
            .await
        }
        Scenario::Soak {
            minutes,
            rate,
            outage_seconds,
            connections,
        } => {
            soak::run(soak::Options {
                server: cli.server.clone(),
                minutes,
                rate,
                outage_seconds,
                connections,
            })
            .await
        }
        Scenario::Queries {
            rate,
            seconds,
            connections,
            usage_records,
        } => {
            queries::run(queries::Options {
                server: cli.server.clone(),
                rate,
                seconds,
                connections,
                usage_records,
            })
            .await
        }
        Scenario::LoginStorm {
            concurrency,
            seconds,
            probe_interval_ms,
        } => {
            login_healthz::run(login_healthz::Options {
                server: cli.server.clone(),
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
                server: cli.server.clone(),
                sockets,
                messages,
                rate,
                server_pid: server_pid.or(server_pid_from_env),
            })
            .await
        }
        Scenario::StreamLength {
            long,
            short,
            samples,
            fill_connections,
        } => {
            send_message::run(send_message::Options {
                server: cli.server.clone(),
                long,
                short,
                samples,
                fill_connections,
            })
            .await
        }
    }
}
