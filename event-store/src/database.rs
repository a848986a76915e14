//! Connecting to PostgreSQL: creating the database when missing, the pools of
//! both drivers, and the migrations.
//!
//! Two drivers, each where it is strongest: `sqlx` is what `postgres-es`
//! (the command side) is built on, so the write side and the migrator use it;
//! `tokio-postgres` serves the read side and the projectors (LISTEN/NOTIFY,
//! binary `xid8`, pipelined statements). See `docs/adr/0001-two-postgres-drivers.md`.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use deadpool_postgres::{ManagerConfig, RecyclingMethod};
use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgPoolOptions;
use tokio_postgres::NoTls;

/// The pool of the read side and the projectors.
pub type ReadPool = deadpool_postgres::Pool;

/// The numbered SQL files of `migrations/`, compiled into the binary so a
/// deployed `zekka` needs no files beside it (`build.rs` rebuilds this
/// crate when a file is added there).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The newest migration this build knows; `/readyz` checks the database has it.
pub fn latest_migration() -> i64 {
    MIGRATOR
        .iter()
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0)
}

/// Applies every migration not applied yet.
///
/// Safe to run from several processes at once: sqlx's migrator holds a
/// PostgreSQL advisory lock for the whole run. Each applied migration's
/// checksum is recorded; a file changed after it was applied stops start-up.
///
/// # Errors
/// When the database cannot be reached, a migration fails, or an applied
/// migration no longer matches its file (the message names it).
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await.map_err(|error| match error {
        MigrateError::VersionMismatch(version) => anyhow!(
            "migration {version} was changed after it was applied to this database \
             (its checksum differs). Applied migrations must never change: restore the \
             original file and add a new numbered migration instead"
        ),
        MigrateError::VersionMissing(version) => anyhow!(
            "the database has migration {version} applied, which this build does not know: \
             it was migrated by a newer version of zekka"
        ),
        MigrateError::Dirty(version) => {
            anyhow!("migration {version} was left partially applied; fix the database by hand, then retry")
        }
        other => anyhow!("failed to apply migrations: {other}"),
    })
}

/// Creates the database named in `url` when it does not exist yet, through
/// the server's `postgres` maintenance database.
///
/// # Errors
/// When the server cannot be reached or refuses to create the database.
pub async fn ensure_database_exists(url: &str) -> Result<()> {
    let config =
        tokio_postgres::Config::from_str(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let name = config
        .get_dbname()
        .ok_or_else(|| anyhow!("DATABASE_URL must name a database"))?
        .to_owned();
    let mut admin = config.clone();
    admin.dbname("postgres");
    let (client, connection) = admin
        .connect(NoTls)
        .await
        .with_context(|| format!("failed to connect to PostgreSQL at {}", describe(&config)))?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .context("failed to look up the database")?
        .is_some();
    if !exists {
        let statement = format!("CREATE DATABASE {}", quote_identifier(&name));
        match client.batch_execute(&statement).await {
            Ok(()) => tracing::info!(database = %name, "created the database"),
            // Another process created it between our look-up and our CREATE.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) => return Err(e).with_context(|| format!("failed to create database {name}")),
        }
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// Quotes a PostgreSQL identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Where a connection goes, without its password, for error messages.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// The command side's pool (sqlx) of at most `size` connections to `url`.
///
/// # Errors
/// When the URL is invalid or the server cannot be reached.
pub async fn write_pool(url: &str, size: usize) -> Result<PgPool> {
    let options = write_connect_options(url)?;
    PgPoolOptions::new()
        .max_connections(u32::try_from(size).unwrap_or(10))
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings a connection on every acquire by default: one more
        // round trip per command. A broken connection fails the statement
        // instead, which answers 503 and is dropped from the pool.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .context("failed to connect the write pool to PostgreSQL")
}

/// The write pool's sessions plan each prepared statement once.
///
/// PostgreSQL plans a prepared statement afresh on each execution ("custom
/// plans") while a generic plan looks costlier than the custom ones it has
/// seen. For the append — `unnest` over array parameters, estimated at ten
/// rows generically and at the one or few it really holds when planned per
/// call — it never does, so every append was planned again: a fifth of
/// the machine's CPU at saturation (`perf`, docs/performance.md). Every
/// statement on this pool finds rows by key (appends, sessions, keys,
/// outboxes), where the generic plan is the plan.
pub const GENERIC_PLANS: (&str, &str) = ("plan_cache_mode", "force_generic_plan");

/// How the write pool connects: as `url` says, except that
/// - a URL naming no `sslmode` does not negotiate TLS with a server on the
///   loopback interface (sqlx would, by default, and encrypt every
///   statement for nothing; the read side, tokio-postgres without TLS,
///   never does);
/// - prepared statements keep their generic plan ([`GENERIC_PLANS`]).
fn write_connect_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .options([GENERIC_PLANS]);
    let loopback = matches!(options.get_host(), "localhost" | "127.0.0.1" | "::1")
        || options.get_host().starts_with('/');
    Ok(if loopback && !url.contains("sslmode=") {
        options.ssl_mode(sqlx::postgres::PgSslMode::Disable)
    } else {
        options
    })
}

/// The read side's pool (tokio-postgres through deadpool) of at most
/// `size` connections to `url`.
///
/// # Errors
/// When the URL is invalid or the pool cannot be built.
pub fn read_pool(url: &str, size: usize) -> Result<ReadPool> {
    let pg = tokio_postgres::Config::from_str(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let manager = deadpool_postgres::Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("failed to build the read pool")
}

/// The database's side of `/readyz` in detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreHealth {
    /// The newest migration applied.
    pub migration_applied: i64,
    /// The newest migration this build knows.
    pub migration_expected: i64,
    /// Projections whose checkpoint stands before the newest event.
    pub projections_behind: i64,
    /// Projections stopped at an event they cannot apply.
    pub projections_failed: i64,
}

/// Where the database stands: its migrations and its projections, in one
/// statement.
///
/// # Errors
/// A description of what failed (unreachable, or not migrated at all).
pub async fn store_health(pool: &ReadPool) -> Result<StoreHealth> {
    let client = pool.get().await.context("PostgreSQL is unreachable")?;
    let row = client
        .query_one(
            "SELECT (SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success),
                    (SELECT count(*) FROM projection_checkpoints
                      WHERE global_position < (SELECT coalesce(max(global_position), 0) FROM events)),
                    (SELECT count(*) FROM projection_checkpoints WHERE status = 'failed')",
            &[],
        )
        .await
        .context("migrations have not been applied")?;
    Ok(StoreHealth {
        migration_applied: row.try_get(0)?,
        migration_expected: latest_migration(),
        projections_behind: row.try_get(1)?,
        projections_failed: row.try_get(2)?,
    })
}

/// Whether the database answers and has every migration this build knows.
///
/// # Errors
/// A description of what is not ready.
pub async fn check_ready(pool: &ReadPool) -> Result<()> {
    let client = pool.get().await.context("PostgreSQL is unreachable")?;
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success",
            &[],
        )
        .await
        .context("migrations have not been applied")?;
    let applied: i64 = row.get(0);
    if applied < latest_migration() {
        anyhow::bail!(
            "the database is at migration {applied}; this build needs {}",
            latest_migration()
        );
    }
    Ok(())
}

/// Queries by SQL text through the connection's statement cache.
/// tokio-postgres prepares a statement given as text anew on every call
/// (parse, plan and an extra round trip); read routes and the real-time hub
/// run the same few statements thousands of times a second.
pub trait CachedQueries: deadpool_postgres::GenericClient {
    /// [`tokio_postgres::Client::query`] with the statement cached.
    fn query_cached(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>> + Send {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query(&statement, params).await
        }
    }

    /// [`tokio_postgres::Client::query_one`] with the statement cached.
    fn query_one_cached(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> impl Future<Output = Result<tokio_postgres::Row, tokio_postgres::Error>> + Send {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query_one(&statement, params).await
        }
    }

    /// [`tokio_postgres::Client::query_opt`] with the statement cached.
    fn query_opt_cached(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<tokio_postgres::Row>, tokio_postgres::Error>> + Send {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query_opt(&statement, params).await
        }
    }

    /// [`tokio_postgres::Client::execute`] with the statement cached.
    fn execute_cached(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + Send {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.execute(&statement, params).await
        }
    }
}

impl<T: deadpool_postgres::GenericClient> CachedQueries for T {}

/// Sets `db_pool_connections` from the pools' current state: for each pool,
/// connections in use, idle, and the most it may open.
pub fn sample_pools(read: &ReadPool, write: &PgPool) {
    let set = |pool: &str, state: &str, value: usize| {
        crate::metrics::METRICS
            .db_pool_connections
            .with_label_values(&[pool, state])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    };
    let status = read.status();
    set("read", "in_use", status.size.saturating_sub(status.available));
    set("read", "idle", status.available);
    set("read", "max", status.max_size);
    let idle = write.num_idle();
    set(
        "write",
        "in_use",
        usize::try_from(write.size()).unwrap_or(0).saturating_sub(idle),
    );
    set("write", "idle", idle);
    set(
        "write",
        "max",
        usize::try_from(write.options().get_max_connections()).unwrap_or(0),
    );
}

/// The PostgreSQL settings that, when off, let a commit be acknowledged and
/// then lost (a crash loses it, or tears pages): every accepted command must
/// be durable.
const DURABILITY_SETTINGS: [&str; 3] = ["fsync", "synchronous_commit", "full_page_writes"];

/// Refuses to go on when the database would not keep what it acknowledges:
/// `fsync`, `synchronous_commit` or `full_page_writes` off. With
/// `allow_unsafe` (`ZEKKA_ALLOW_UNSAFE_DB=1`, for throw-away test servers)
/// it warns instead.
///
/// # Errors
/// When one of them is off (and not allowed), or the settings cannot be read.
pub async fn check_durability(pool: &sqlx::PgPool, allow_unsafe: bool) -> Result<()> {
    let settings: Vec<(String, String)> =
        sqlx::query_as("SELECT name, setting FROM pg_settings WHERE name = ANY($1) ORDER BY name")
            .bind(&DURABILITY_SETTINGS[..])
            .fetch_all(pool)
            .await
            .context("cannot read PostgreSQL's durability settings")?;
    let off: Vec<&str> = settings
        .iter()
        .filter(|(_, setting)| setting == "off")
        .map(|(name, _)| name.as_str())
        .collect();
    if off.is_empty() {
        return Ok(());
    }
    let what = off.join(", ");
    if allow_unsafe {
        tracing::warn!(
            settings = %what,
            "PostgreSQL runs with {what} off: an acknowledged command can be LOST in a crash. \
             Starting anyway because ZEKKA_ALLOW_UNSAFE_DB is set; never do this with data you keep"
        );
        return Ok(());
    }
    bail!(
        "refusing to start: PostgreSQL runs with {what} off, so a command Zekka acknowledged could be lost \
         in a crash. Turn it on (postgresql.conf, or ALTER SYSTEM / ALTER DATABASE … RESET), or set \
         ZEKKA_ALLOW_UNSAFE_DB=1 for a throw-away server"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_in_migrations_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let files = std::fs::read_dir(dir)
            .expect("migrations directory")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "sql"))
            .count();
        let versions: Vec<i64> = super::MIGRATOR.iter().map(|m| m.version).collect();
        assert_eq!(
            versions.len(),
            files,
            "a migration file is not embedded (is build.rs there?)"
        );
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(super::latest_migration(), *versions.last().unwrap_or(&0));
    }
}
