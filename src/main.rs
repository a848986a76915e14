//! `zekka`: run the backend, or operate on it.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::sync::Arc;
use zekka_command_api::app::operations;

use indicatif::{ProgressBar, ProgressStyle};
use zekka::demo::DemoOptions;
use zekka::{App, Services};
use zekka_event_store::personal_data::PersonalData;
use zekka_event_store::{database, integrity};
use zekka_platform::{Config, shutdown, signing_keys, telemetry, tokens};
use zekka_projectors::Projector;

/// mimalloc instead of the system allocator: the projectors and the JSON
/// they parse allocate and free many small objects, where glibc's malloc
/// spent about a third of a rebuild's CPU time (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Rebuild a projection (or `all`) from the events into a shadow schema,
    /// compare it with the live one, and swap it in; the live model keeps
    /// serving meanwhile. Shows progress; prints what differed.
    Rebuild {
        /// The projection's name (`usage`, `agents`, …) or `all`.
        name: String,
    },
    /// Check or sign the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Operate on projections (see also `zekka rebuild`).
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Grant or revoke system roles (admin, auditor).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// List or rotate the keys that sign access tokens and audit checkpoints.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Apply the retention policy now (docs/privacy.md; command-api does it
    /// every hour), or show what it would remove.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Fill a running backend with a realistic data set through its public
    /// HTTP API (people, projects, conversations, agents, usage, conflicts),
    /// so the analytics routes have something to show.
    Demo {
        /// The backend's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The password of the demo accounts.
        #[arg(long, default_value = "zekka demo passphrase")]
        password: String,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Remove every row the policy no longer keeps; print a line per rule.
    Run {
        /// Only count what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every event's hash and every signed checkpoint's running
    /// hash; print the report as JSON and exit 1 when anything does not match.
    Verify {
        /// A file of checkpoint documents kept outside the system (one per
        /// line, as `GET /api/v1/audit/checkpoints` gave them), checked too.
        #[arg(long, conflicts_with = "file")]
        checkpoints: Option<std::path::PathBuf>,
        /// Verify this export (`GET /api/v1/audit/export`) offline instead
        /// of the database: nothing but the file and the public key is read.
        #[arg(long, requires = "public_key")]
        file: Option<std::path::PathBuf>,
        /// The PASERK `k4.public.…` key that signed the export's
        /// checkpoints (`zekka keys list` shows it).
        #[arg(long, requires = "file")]
        public_key: Option<String>,
    },
    /// Sign a checkpoint of the commit order now (command-api does it every
    /// `AUDIT_CHECKPOINT_SECONDS`) and print it.
    Checkpoint,
    /// Seal the request addresses and user agents that events written
    /// before sealing still hold in plaintext (an erased person's are
    /// dropped), rewriting the hash chains and checkpoints this changes and
    /// recording the rewrite for verification to check (docs/audit.md).
    /// Appends wait while it runs. Prints the report as JSON.
    ResealMetadata {
        /// Count what it would seal and rewrite; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Have a projection pass over an event it cannot apply (a poison
    /// event; `GET /api/v1/projections` names it). Recorded in the audit
    /// history with who and why; the projection moves on within seconds,
    /// and every rebuild passes over it too and reports it.
    Skip {
        /// The projection's name (`conversations`, `usage`, …).
        name: String,
        /// The event's global position.
        #[arg(long)]
        position: i64,
        /// Why it is skipped (kept in the audit history).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Give the account with EMAIL a system role: `admin` (pricing,
    /// projections, the whole audit trail) or `auditor` (the whole audit
    /// trail). Recorded in the audit history; it takes effect at the
    /// person's next sign-in or token refresh.
    GrantRole {
        /// The account's email.
        email: String,
        /// `admin` or `auditor`.
        role: String,
    },
    /// Take a granted system role back (at the next token refresh).
    RevokeRole {
        /// The account's email.
        email: String,
        /// `admin` or `auditor`.
        role: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print every stored key: its id, when it signs from, and whether it
    /// signs now, is next, retired or revoked.
    List,
    /// Put a new signing key in place without a restart: it is published
    /// now, every process trusts it within SIGNING_KEY_REFRESH_SECONDS, and
    /// it starts signing after --publish-after; the old key retires then
    /// (its tokens stay valid until they expire). With ZEKKA_SIGNING_KEY
    /// set, keys come from the environment: prints a new pair and the steps.
    Rotate {
        /// Seconds between publishing the new key and its first signature;
        /// keep it above SIGNING_KEY_REFRESH_SECONDS (default 15).
        #[arg(long, default_value_t = signing_keys::PUBLISH_AFTER.as_secs())]
        publish_after: u64,
        /// Also revoke the old keys at that moment: their access tokens stop
        /// working (people refresh), for a key that may have leaked.
        #[arg(long)]
        revoke_previous: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Service {
    CommandApi,
    QueryApi,
    Projectors,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Up => serve(Services::All).await,
        Command::Serve { service } => {
            let services = match service {
                Service::CommandApi => Services::CommandApi,
                Service::QueryApi => Services::QueryApi,
                Service::Projectors => Services::Projectors,
            };
            serve(services).await
        }
        Command::Migrate => {
            let config = configured()?;
            database::ensure_database_exists(&config.database_url).await?;
            let pool = database::write_pool(&config.database_url, config.pool_size).await?;
            database::migrate(&pool).await?;
            tracing::info!(version = database::latest_migration(), "migrations applied");
            Ok(())
        }
        Command::Rebuild { name } => rebuild(&name).await,
        Command::Audit { command } => audit(command).await,
        Command::Keys { command } => keys(command).await,
        Command::Retention {
            command: RetentionCommand::Run { dry_run },
        } => retention(dry_run).await,
        Command::Projections { command } => projections(command).await,
        Command::Users { command } => users(command).await,
        Command::Demo { url, password } => demo(&url, password).await,
    }
}

/// `zekka rebuild <name>|all`: runs the rebuilds in this process, with a
/// progress bar each.
async fn rebuild(name: &str) -> Result<()> {
    let config = configured()?;
    database::ensure_database_exists(&config.database_url).await?;
    database::migrate(&database::write_pool(&config.database_url, config.pool_size).await?).await?;
    let pool = database::read_pool(&config.database_url, config.pool_size)?;
    let personal = Arc::new(PersonalData::load(config.master_key_text(), pool.clone()).await?);
    let all = zekka_projectors::projections::all(&zekka_platform::blobs::Blobs::from_config(&config)?);
    let names: Vec<_> = all.iter().map(|p| p.name()).collect();
    let chosen: Vec<_> = all
        .iter()
        .filter(|p| name == "all" || p.name() == name)
        .cloned()
        .collect();
    if chosen.is_empty() {
        anyhow::bail!(
            "no projection is called {name:?}; there are: {}, or all",
            names.join(", ")
        );
    }
    let mut failed = false;
    for projection in chosen {
        let projector = Projector::new(
            projection,
            pool.clone(),
            personal.clone(),
            config.projector_batch_size,
        );
        projector.ensure_checkpoint().await?;
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>14} [{bar:40}] {pos}/{len} events  {per_sec}  ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(projector.name());
        match zekka_projectors::rebuild::rebuild(&projector, |progress| {
            bar.set_length(u64::try_from(progress.total).unwrap_or(0));
            bar.set_position(u64::try_from(progress.done).unwrap_or(0));
        })
        .await
        {
            Ok(report) => {
                bar.finish_with_message("swapped in");
                let rate = report.events as f64 / report.seconds.max(1e-9);
                println!(
                    "{}: {} events in {:.2} s ({rate:.0} events/s); {}",
                    report.name,
                    report.events,
                    report.seconds,
                    if report.differences.is_empty() {
                        "the rebuilt model equals the live one".to_owned()
                    } else {
                        format!(
                            "FINDING: the rebuilt rows differ in {}",
                            serde_json::to_string_pretty(&report.differences)?
                        )
                    }
                );
            }
            Err(error) => {
                bar.abandon_with_message("failed");
                eprintln!(
                    "{}: rebuild failed: {error} (the live model is untouched; run again to resume)",
                    projector.name()
                );
                failed = true;
            }
        }
    }
    if failed {
        anyhow::bail!("a rebuild failed");
    }
    Ok(())
}

/// `zekka retention run [--dry-run]`: the retention sweep, now.
async fn retention(dry_run: bool) -> Result<()> {
    let config = configured()?;
    let read_pool = database::read_pool(&config.database_url, config.pool_size)?;
    let report = zekka_command_api::app::retention::sweep(&read_pool, chrono::Utc::now(), dry_run)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let verb = if dry_run { "would remove" } else { "removed" };
    for swept in report {
        println!("{:<22} {:<18} {verb} {}", swept.rule, swept.table, swept.rows);
    }
    let blobs = zekka_platform::blobs::Blobs::from_config(&config)
        .context("cannot open the sources' store (SOURCES_URL or SOURCES_DIR)")?;
    let swept =
        zekka_command_api::app::sources::sweeper::sweep(&read_pool, &blobs, chrono::Utc::now(), dry_run)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{:<22} {:<18} {verb} {}",
        "source_blobs", "SOURCES_DIR", swept.removed
    );
    Ok(())
}

/// `zekka audit verify --file EXPORT --public-key K`: an export checked
/// offline; prints the report and fails when anything does not match.
fn verify_export_file(file: &std::path::Path, public_key: &str) -> Result<()> {
    let verifier = zekka_platform::tokens::TokenVerifier::from_paserk(public_key.trim())
        .context("the public key is not a PASERK k4.public key")?;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = integrity::verify_export(text.lines(), &verifier);
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !report.intact {
        anyhow::bail!("the export does not verify (first failure above)");
    }
    Ok(())
}

/// `zekka audit …`: works on the database directly, as an operator would.
async fn audit(command: AuditCommand) -> Result<()> {
    if let AuditCommand::Verify {
        file: Some(file),
        public_key: Some(public_key),
        ..
    } = &command
    {
        return verify_export_file(file, public_key);
    }
    let config = configured()?;
    let write_pool = database::write_pool(&config.database_url, config.pool_size).await?;
    let read_pool = database::read_pool(&config.database_url, config.pool_size)?;
    match command {
        AuditCommand::Verify { checkpoints, .. } => {
            let kept = match checkpoints {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .lines()
                    .map(str::to_owned)
                    .collect(),
                None => Vec::new(),
            };
            let verifier = signing_keys::load_verifier(&config, &write_pool).await?;
            let client = read_pool.get().await?;
            let report = integrity::verify(&**client, &verifier, &kept).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.intact {
                anyhow::bail!("the audit trail does not verify (first failure above)");
            }
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let signer = signing_keys::load_signer(&config, &write_pool).await?;
            match zekka_command_api::app::checkpointer::once(&read_pool, &signer).await? {
                Some(checkpoint) => println!("{}", serde_json::to_string_pretty(&checkpoint)?),
                None => println!("no new events since the last checkpoint"),
            }
            Ok(())
        }
        AuditCommand::ResealMetadata { dry_run } => {
            let signer = signing_keys::load_signer(&config, &write_pool).await?;
            let personal = PersonalData::load(config.master_key_text(), read_pool.clone()).await?;
            let mut client = read_pool.get().await?;
            let report = integrity::reseal_metadata(&mut client, &personal, &signer, dry_run).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}

/// `zekka keys …`: works on the database directly.
async fn keys(command: KeysCommand) -> Result<()> {
    let config = configured()?;
    database::ensure_database_exists(&config.database_url).await?;
    let pool = database::write_pool(&config.database_url, config.pool_size).await?;
    database::migrate(&pool).await?;
    match command {
        KeysCommand::List => {
            let stored = signing_keys::list(&pool).await?;
            let now = chrono::Utc::now();
            let signing = signing_keys::signing_at(&stored, now);
            if stored.is_empty() {
                println!("no key is stored yet (the first start generates one)");
            }
            for key in &stored {
                println!(
                    "{:<8} {}  signs from {}{}{}",
                    key.state(signing, now),
                    key.key_id,
                    key.activates_at.to_rfc3339(),
                    key.retired_at
                        .map(|at| format!(", retired {}", at.to_rfc3339()))
                        .unwrap_or_default(),
                    key.revoked_at
                        .map(|at| format!(", revoked {}", at.to_rfc3339()))
                        .unwrap_or_default(),
                );
                // What an auditor verifies an export with, offline.
                println!("         public key {}", key.public_key);
            }
            if config.signing_key.is_some() {
                println!("note: ZEKKA_SIGNING_KEY is set, so this process signs with it, not with these");
            }
            Ok(())
        }
        KeysCommand::Rotate {
            publish_after,
            revoke_previous,
        } => {
            if config.signing_key.is_some() {
                let (secret, public) = tokens::generate_key_pair()?;
                println!(
                    "ZEKKA_SIGNING_KEY is set: the keys come from the environment, so rotate them there.\n\
                     New secret key (ZEKKA_SIGNING_KEY):  {secret}\n\
                     New public key:                      {public}\n\
                     1. Add the new public key to ZEKKA_PUBLIC_KEY (comma-separated, after the old one)\n   \
                        everywhere it is set, and restart the verifiers (query-api) first.\n\
                     2. Set ZEKKA_SIGNING_KEY to the new secret and restart command-api.\n\
                     3. After 15 minutes (the access-token lifetime) remove the old public key from ZEKKA_PUBLIC_KEY.\n\
                     Keep the old public key with your audit archive: it verifies the checkpoints it signed."
                );
                return Ok(());
            }
            let rotation = signing_keys::rotate(
                &pool,
                std::time::Duration::from_secs(publish_after),
                revoke_previous,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&rotation)?);
            eprintln!(
                "{} signs from {}; every process trusts it within {} s. Old access tokens stay valid until they expire{}.",
                rotation.key_id,
                rotation.activates_at.to_rfc3339(),
                config.signing_key_refresh.as_secs(),
                if revoke_previous {
                    ", or until the new key signs: the old keys are revoked then"
                } else {
                    ""
                },
            );
            if publish_after < config.signing_key_refresh.as_secs() {
                eprintln!(
                    "warning: --publish-after is shorter than SIGNING_KEY_REFRESH_SECONDS: a process may \
                     see a token from the new key before it trusts it (answered 401 until it re-reads)"
                );
            }
            Ok(())
        }
    }
}

/// `zekka projections …`: decided by the command side, as the admin routes are.
async fn projections(command: ProjectionsCommand) -> Result<()> {
    let config = configured()?;
    let state = zekka::operator_commands(&config).await?;
    match command {
        ProjectionsCommand::Skip {
            name,
            position,
            reason,
        } => {
            let context =
                zekka_command_api::app::dispatch::CommandContext::operator("zekka projections skip");
            let skip =
                operations::skip_event(&state, &name, position, &reason, operator_name(), &context).await?;
            println!(
                "{}: the event at {} ({}) is skipped by {}; the projection passes over it within seconds",
                skip.projection, skip.position, skip.event_type, skip.skipped_by
            );
            Ok(())
        }
    }
}

/// `zekka users …`: decided by the command side, recorded as events.
async fn users(command: UsersCommand) -> Result<()> {
    let config = configured()?;
    let (email, role, grant) = match command {
        UsersCommand::GrantRole { email, role } => (email, role, true),
        UsersCommand::RevokeRole { email, role } => (email, role, false),
    };
    let role: zekka_domain::user::SystemRole = role.trim().parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = zekka::operator_commands(&config).await?;
    let context = zekka_command_api::app::dispatch::CommandContext::operator(if grant {
        "zekka users grant-role"
    } else {
        "zekka users revoke-role"
    });
    let user_id = operations::set_system_role(&state, &email, role, grant, &context).await?;
    println!(
        "{email} ({user_id}) {} {}; it takes effect at their next sign-in or token refresh",
        if grant { "is granted" } else { "no longer holds" },
        role.as_str()
    );
    Ok(())
}

/// Who runs an operator's command: `cli:` and the login name.
fn operator_name() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}

/// The configuration from the environment, with tracing set up as it says.
fn configured() -> Result<Config> {
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    Ok(config)
}

/// `zekka demo`: needs no configuration but the backend's address.
async fn demo(url: &str, password: String) -> Result<()> {
    let summary = zekka::demo::run(DemoOptions {
        server: url.parse()?,
        password,
        progress: true,
    })
    .await?;
    println!("The demo data is in: {} steps through the API.", summary.steps);
    if let Some((owner, others)) = summary.emails.split_first() {
        println!(
            "Sign in as {owner} (who owns the projects) or {}, with the password given to --password.",
            others.join(" or ")
        );
    }
    for project in &summary.projects {
        println!("  project {project}:  {url}/api/v1/projects/{project}/stats");
    }
    println!("Try {url}/api/v1/analytics/metrics and {url}/api/v1/analytics/costs/breakdown, or {url}/docs.");
    Ok(())
}

async fn serve(services: Services) -> Result<()> {
    let config = configured()?;
    for (setting, value) in config.summary() {
        tracing::info!(setting, value = %value, "configuration");
    }
    let app = App::build(config, services).await?;
    let (trigger, stop) = shutdown::channel();
    tokio::spawn(async move {
        shutdown::os_signal().await;
        tracing::info!("shutdown requested; finishing in-flight work");
        trigger.trigger();
    });
    app.run_until(stop).await
}
