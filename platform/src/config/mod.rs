//! Typed configuration, read once from the environment. Every field has a
//! default that works on a developer machine with a local PostgreSQL.

use std::ffi::OsStr;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, FromArgMatches};

mod limits;
mod parse;
mod reference;
mod summary;
#[cfg(test)]
mod tests;

pub use limits::{LimitsConfig, Rate};
pub use reference::Setting;

/// A value that must never appear in logs or debug output.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything a Zekka process is configured with: each setting is an
/// environment variable (its name in `env`), parsed by clap, with the
/// default and the doc comment that `docs/operations.md`'s reference is
/// generated from ([`Config::reference`]).
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// The PostgreSQL database (created if missing).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/zekka"
    )]
    pub database_url: String,
    /// A read replica of `DATABASE_URL` (a streaming standby) that the
    /// query API reads from; unset, it reads from `DATABASE_URL`. Reads
    /// with a consistency token wait until the replica has replayed the
    /// write (bounded by `CONSISTENCY_WAIT_MS`, then 503). Writes,
    /// migrations, projectors and the real-time hub stay on the primary.
    #[arg(long, env = "DATABASE_READ_URL")]
    pub database_read_url: Option<String>,
    /// Redis, for state shared between processes (rate limits, lockout,
    /// real time); unset, it is kept in this process. `/readyz` checks it when set.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// The address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0", value_parser = parse::whole::<IpAddr>)]
    pub host: IpAddr,
    /// The port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value = "8080", value_parser = parse::whole::<u16>)]
    pub port: u16,
    /// The PASERK `k4.secret.…` key that signs access tokens. When unset, a
    /// key is generated on first start and kept in the database (with a
    /// warning: production should configure one).
    #[arg(long, env = "ZEKKA_SIGNING_KEY", value_parser = parse::secret)]
    pub signing_key: Option<Secret>,
    /// The PASERK `k4.local.…` key that wraps every person's data key
    /// (crypto-shredding). Unset: one is generated and kept in the database
    /// (fine for development; set it in production).
    #[arg(long, env = "ZEKKA_MASTER_KEY", value_parser = parse::secret)]
    pub master_key: Option<Secret>,
    /// The PASERK `k4.public.…` keys (comma-separated: the old and the new
    /// one while rotating) that verify access tokens, for a query-api that
    /// must not read the signing key. When unset they are derived from the
    /// signing key or read from the database.
    #[arg(long, env = "ZEKKA_PUBLIC_KEY")]
    pub public_key: Option<String>,
    /// `text` or `json` (one object per line, for log shippers).
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_enum)]
    pub log_format: LogFormat,
    /// Connections per pool.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value = "10", value_parser = parse::at_least::<usize, 1>)]
    pub pool_size: usize,
    /// Events a projector applies per transaction (1 to 10,000).
    #[arg(long, env = "PROJECTOR_BATCH_SIZE", default_value = "500", value_parser = parse::between::<i64, 1, 10_000>)]
    pub projector_batch_size: i64,
    /// Milliseconds between a projector's polls when no notification arrives.
    #[arg(long, env = "PROJECTOR_POLL_MS", default_value = "1000", value_parser = parse::millis::<10, { u64::MAX }>)]
    pub projector_poll_interval: Duration,
    /// Under load, the milliseconds a projector woken by a commit waits for
    /// more commits to join its next batch (at most 1000).
    #[arg(long, env = "PROJECTOR_COALESCE_MS", default_value = "20", value_parser = parse::millis::<0, 1000>)]
    pub projector_coalesce: Duration,
    /// Milliseconds a query waits for its consistency token before answering 503.
    #[arg(long, env = "CONSISTENCY_WAIT_MS", default_value = "5000", value_parser = parse::millis::<0, { u64::MAX }>)]
    pub consistency_wait: Duration,
    /// Seconds in-flight requests may take to finish after SIGINT/SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value = "30", value_parser = parse::seconds::<0>)]
    pub shutdown_grace: Duration,
    /// Put before every Redis key.
    #[arg(long, env = "REDIS_PREFIX", default_value = "zekka:")]
    pub redis_prefix: String,
    /// Rate limits and lockout.
    #[command(flatten)]
    pub limits: LimitsConfig,
    /// How many trusted reverse proxies stand in front of Zekka, each
    /// appending the address it was called from to `X-Forwarded-For`. The
    /// client's address is the entry that many places from the right; entries
    /// further left are the client's own words and ignored. `0` (or `false`):
    /// the peer is the client; `true` means 1.
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value = "0", value_parser = parse::proxy_hops)]
    pub trusted_proxy_hops: usize,
    /// Seconds a refresh token lives (at least 60; 604800 is 7 days).
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECONDS", default_value = "604800", value_parser = parse::seconds::<60>)]
    pub refresh_token_ttl: Duration,
    /// Seconds a session lasts from its sign-in, however often it is
    /// refreshed; then the person signs in again (2592000 is 30 days).
    #[arg(long, env = "SESSION_MAX_AGE", default_value = "2592000", value_parser = parse::seconds::<1>)]
    pub session_max_age: Duration,
    /// Comma-separated emails that get the system `admin` role once verified
    /// (`zekka users grant-role` grants it too).
    #[arg(long, env = "ZEKKA_ADMIN_EMAILS", value_delimiter = ',', value_parser = parse::email)]
    pub admin_emails: Vec<String>,
    /// Comma-separated emails that get the system `auditor` role once verified.
    #[arg(long, env = "ZEKKA_AUDITOR_EMAILS", value_delimiter = ',', value_parser = parse::email)]
    pub auditor_emails: Vec<String>,
    /// Comma-separated origins allowed to call the API from a browser; none
    /// by default (cross-origin calls are refused).
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',', value_parser = parse::item)]
    pub cors_origins: Vec<String>,
    /// Seconds one request may take before it is answered 503.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value = "30", value_parser = parse::seconds::<1>)]
    pub request_timeout: Duration,
    /// Where people reach the frontend, for links in mail.
    #[arg(long, env = "PUBLIC_URL", default_value = "http://localhost:8080", value_parser = parse::base_url)]
    pub public_url: String,
    /// Seconds a password-reset link works (at least 60).
    #[arg(long, env = "PASSWORD_RESET_TTL_SECONDS", default_value = "1800", value_parser = parse::seconds::<60>)]
    pub password_reset_ttl: Duration,
    /// Seconds a verification link works (at least 60; 172800 is 2 days).
    #[arg(long, env = "EMAIL_VERIFICATION_TTL_SECONDS", default_value = "172800", value_parser = parse::seconds::<60>)]
    pub email_verification_ttl: Duration,
    /// Seconds an invitation link works (7 days by default).
    #[arg(long, env = "INVITATION_TTL_SECONDS", default_value = "604800", value_parser = parse::seconds::<1>)]
    pub invitation_ttl: Duration,
    /// Milliseconds between the mailer's looks for unsent mail.
    #[arg(long, env = "MAIL_POLL_MS", default_value = "1000", value_parser = parse::millis::<10, { u64::MAX }>)]
    pub mail_poll_interval: Duration,
    /// Messages queued per WebSocket before a client too slow to read them is
    /// disconnected.
    #[arg(long, env = "REALTIME_QUEUE", default_value = "256", value_parser = parse::at_least::<usize, 1>)]
    pub realtime_queue: usize,
    /// How many aggregates of each type command-api keeps the last known
    /// state of in memory (a load then reads only newer events).
    #[arg(long, env = "AGGREGATE_CACHE", default_value = "10000", value_parser = parse::at_least::<usize, 1>)]
    pub aggregate_cache: usize,
    /// Seconds between the checkpoints command-api signs of the event
    /// store's commit order (when events were added).
    #[arg(long, env = "AUDIT_CHECKPOINT_SECONDS", default_value = "60", value_parser = parse::seconds::<1>)]
    pub audit_checkpoint_interval: Duration,
    /// Seconds between a process's re-reads of the token keys kept in the
    /// database, so a rotated-in key is trusted before it signs (`zekka keys
    /// rotate` publishes it 45 s ahead).
    #[arg(long, env = "SIGNING_KEY_REFRESH_SECONDS", default_value = "15", value_parser = parse::seconds::<1>)]
    pub signing_key_refresh: Duration,
    /// The SMTP server mail goes through (`smtps://user:pass@host:465`, or
    /// `smtp://host:587?tls=required` for STARTTLS). Unset: mail is written
    /// to the log.
    #[arg(long, env = "SMTP_URL", value_parser = parse::secret)]
    pub smtp_url: Option<Secret>,
    /// The sender of outgoing mail.
    #[arg(long, env = "MAIL_FROM", default_value = "Zekka <no-reply@localhost>")]
    pub mail_from: String,
    /// The arbitrators `POST /conflicts/{id}/arbitrate` tries in order,
    /// comma-separated: `rules` (first writer wins for code conflicts on
    /// locked files) or `ollama:<model>`; when none settles the conflict it
    /// is escalated to a person.
    #[arg(long, env = "ARBITRATOR_CHAIN", default_value = "rules", value_delimiter = ',', value_parser = parse::arbitrator)]
    pub arbitrator_chain: Vec<String>,
    /// The Ollama-compatible server the `ollama:` arbitrators ask
    /// (`http://host:port` or `https://…`).
    #[arg(long, env = "OLLAMA_URL", default_value = "http://127.0.0.1:11434")]
    pub ollama_url: String,
    /// A PEM file of certificate authorities trusted, besides the public
    /// ones, for an `https://` `OLLAMA_URL` (a private CA).
    #[arg(long, env = "OLLAMA_CA_CERT")]
    pub ollama_ca_cert: Option<String>,
    /// Milliseconds one arbitrator may take before the chain moves on.
    #[arg(long, env = "ARBITRATOR_TIMEOUT_MS", default_value = "10000", value_parser = parse::millis::<1, { u64::MAX }>)]
    pub arbitrator_timeout: Duration,
    /// Milliseconds an agent process holds a task it claimed from `GET
    /// /agents/{id}/work` without a heartbeat; then the lease lapses and the
    /// task is handed out again (the third lapse fails it).
    #[arg(long, env = "EXECUTION_LEASE_MS", default_value = "60000", value_parser = parse::millis::<100, { u64::MAX }>)]
    pub execution_lease: Duration,
    /// Input tokens a task is expected to take when its agent has no
    /// finished task to judge by (the orchestrator's budget estimate).
    #[arg(long, env = "EXECUTION_TASK_INPUT_TOKENS", default_value = "20000", value_parser = parse::at_least::<u64, 0>)]
    pub execution_task_input_tokens: u64,
    /// Output tokens a task is expected to take, likewise.
    #[arg(long, env = "EXECUTION_TASK_OUTPUT_TOKENS", default_value = "5000", value_parser = parse::at_least::<u64, 0>)]
    pub execution_task_output_tokens: u64,
    /// `yes` lets webhooks deliver to loopback, private and link-local
    /// addresses (a receiver on the same host or network); by default such
    /// targets are refused, so no tenant can make the server call inside its
    /// network.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_TARGETS", default_value = "no", action = clap::ArgAction::Set, value_parser = parse::yes_or_no)]
    pub webhook_allow_private_targets: bool,
    /// Milliseconds a webhook receiver may take to answer one delivery
    /// before it counts as failed (and is retried with back-off).
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value = "10000", value_parser = parse::millis::<100, { u64::MAX }>)]
    pub webhook_timeout: Duration,
    /// How many matches of each kind (messages, conversations, projects,
    /// sources) a search ranks, newest first (1 to 100,000): the bound on a
    /// search's work however common its words.
    #[arg(long, env = "SEARCH_CANDIDATES", default_value = "1000", value_parser = parse::between::<i64, 1, 100_000>)]
    pub search_candidates: i64,
    /// The directory sources' bytes are kept in (created when missing),
    /// one file per distinct content of a project, named by its SHA-256.
    #[arg(long, env = "SOURCES_DIR", default_value = "zekka-data/sources")]
    pub sources_dir: std::path::PathBuf,
    /// An S3 bucket to keep sources' bytes in instead of `SOURCES_DIR`:
    /// `s3://bucket` or `s3://bucket/prefix` (AWS or any S3-compatible
    /// service). Credentials and region come from the `SOURCES_S3_*`
    /// settings, else from the standard AWS environment and instance role.
    #[arg(long, env = "SOURCES_URL")]
    pub sources_url: Option<String>,
    /// The S3 endpoint of a service other than AWS (MinIO, Ceph, R2, …),
    /// e.g. `https://s3.example.com:9000`.
    #[arg(long, env = "SOURCES_S3_ENDPOINT")]
    pub sources_s3_endpoint: Option<String>,
    /// The bucket's region.
    #[arg(long, env = "SOURCES_S3_REGION", default_value = "us-east-1")]
    pub sources_s3_region: String,
    /// The access key id for `SOURCES_URL` (unset: the AWS environment's).
    #[arg(long, env = "SOURCES_S3_ACCESS_KEY_ID")]
    pub sources_s3_access_key_id: Option<String>,
    /// The secret access key for `SOURCES_URL` (unset: the AWS environment's).
    #[arg(long, env = "SOURCES_S3_SECRET_ACCESS_KEY", value_parser = parse::secret)]
    pub sources_s3_secret_access_key: Option<Secret>,
    /// `yes` lets `SOURCES_S3_ENDPOINT` be plain `http://` (a server on the
    /// same host or network); by default only HTTPS.
    #[arg(long, env = "SOURCES_S3_ALLOW_HTTP", default_value = "no", action = clap::ArgAction::Set, value_parser = parse::yes_or_no)]
    pub sources_s3_allow_http: bool,
    /// `1` starts even when PostgreSQL runs with `fsync`,
    /// `synchronous_commit` or `full_page_writes` off (settings under which
    /// an acknowledged command can be lost), with a loud warning; by default
    /// Zekka refuses to start.
    #[arg(long, env = "ZEKKA_ALLOW_UNSAFE_DB", default_value = "0", action = clap::ArgAction::Set, value_parser = parse::yes_or_no)]
    pub allow_unsafe_db: bool,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// When a variable is set to something that does not parse.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map
    /// in tests): every setting `lookup` gives a non-blank value is handed to
    /// clap as its flag, the others take their defaults. The process
    /// environment itself is never read here, so tests cannot pick it up.
    ///
    /// # Errors
    /// When a variable is set to something that does not parse; the message
    /// names the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let command = Self::command();
        let mut flags = Vec::new();
        let mut names = Vec::new();
        for arg in command.get_arguments() {
            let (Some(variable), Some(long)) = (arg.get_env().and_then(OsStr::to_str), arg.get_long()) else {
                continue;
            };
            if let Some(value) = lookup(variable).filter(|value| !value.trim().is_empty()) {
                flags.push(format!("--{long}={value}"));
            }
            names.push((format!("'--{long} <"), variable.to_owned()));
        }
        let matches = command
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(flags)
            .map_err(|error| explained(&error, &names))?;
        let mut config = Self::from_arg_matches(&matches).map_err(|error| explained(&error, &names))?;
        config.admin_emails.retain(|email| !email.is_empty());
        config.auditor_emails.retain(|email| !email.is_empty());
        config.cors_origins.retain(|origin| !origin.is_empty());
        config.arbitrator_chain.retain(|step| !step.is_empty());
        anyhow::ensure!(
            !config.arbitrator_chain.is_empty(),
            "ARBITRATOR_CHAIN must name at least one arbitrator"
        );
        config.limits.scale_rates();
        Ok(config)
    }

    /// The settings as clap knows them, without a binary name.
    fn command() -> clap::Command {
        Self::augment_args(clap::Command::new("zekka").no_binary_name(true))
    }

    /// The same configuration pointing at another database (tests use one each).
    pub fn with_database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = url.into();
        self
    }
}

/// clap's message, its first line, with each `'--flag <VALUE>'` replaced by
/// the variable that was set (nobody passed a flag: they set a variable).
fn explained(error: &clap::Error, names: &[(String, String)]) -> anyhow::Error {
    let rendered = error.to_string();
    let mut message = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned();
    for (flag, variable) in names {
        if let Some(start) = message.find(flag.as_str())
            && let Some(length) = message[start..].find(">'")
        {
            message.replace_range(start..start + length + 2, variable);
        }
    }
    anyhow::anyhow!("configuration: {message}")
}
