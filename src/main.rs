//! `zekka`: run the backend, or operate on it.

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use zekka::{App, Services};
use zekka_platform::{Config, database, shutdown, telemetry};

/// Zekka: the multi-agent orchestration backend.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run command-api, query-api and projectors in one process on one port.
    Up,
    /// Run one service alone (as compose.yaml does).
    Serve {
        /// The service to run.
        service: Service,
    },
    /// Create the database if missing and apply pending migrations, then exit.
    Migrate,
}

#[derive(Clone, Copy, ValueEnum)]
enum Service {
    CommandApi,
    QueryApi,
    Projectors,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    match cli.command {
        Command::Up => serve(config, Services::All).await,
        Command::Serve { service } => {
            let services = match service {
                Service::CommandApi => Services::CommandApi,
                Service::QueryApi => Services::QueryApi,
                Service::Projectors => Services::Projectors,
            };
            serve(config, services).await
        }
        Command::Migrate => {
            database::ensure_database_exists(&config.database_url).await?;
            let pool = database::write_pool(&config).await?;
            database::migrate(&pool).await?;
            tracing::info!(version = database::latest_migration(), "migrations applied");
            Ok(())
        }
    }
}

async fn serve(config: Config, services: Services) -> Result<()> {
    let app = App::build(config, services).await?;
    let (trigger, stop) = shutdown::channel();
    tokio::spawn(async move {
        shutdown::os_signal().await;
        tracing::info!("shutdown requested; finishing in-flight work");
        trigger.trigger();
    });
    app.run_until(stop).await
}
