//! Typed configuration, read once from the environment. Every field has a
//! default that works on a developer machine with a local PostgreSQL.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::{Context, Result};

mod limits;
mod summary;
#[cfg(test)]
mod tests;

pub use limits::{LimitsConfig, Rate};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log shippers (`LOG_FORMAT=json`).
    Json,
}

/// Everything a Zekka process is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: the PostgreSQL database (created if missing).
    /// Default `postgres://postgres@127.0.0.1:5432/zekka`.
    pub database_url: String,
    /// `REDIS_URL`: Redis, optional for now; `/readyz` checks it when set.
    pub redis_url: Option<String>,
    /// `HOST`: the address to listen on. Default `0.0.0.0`.
    pub host: IpAddr,
    /// `PORT`: the port to listen on (0 picks a free one). Default 8080.
    pub port: u16,
    /// `ZEKKA_SIGNING_KEY`: the PASERK `k4.secret.…` key that signs access
    /// tokens. When unset, a key is generated on first start and kept in the
    /// database (with a warning: production should configure one).
    pub signing_key: Option<Secret>,
    /// `ZEKKA_MASTER_KEY`: PASERK `k4.local.…` key that wraps every person's
    /// data key (crypto-shredding). Unset: one is generated and kept in the
    /// database (fine for development; set it in production).
    pub master_key: Option<Secret>,
    /// `ZEKKA_PUBLIC_KEY`: the PASERK `k4.public.…` keys (comma-separated:
    /// the old and the new one while rotating) that verify access tokens,
    /// for a query-api that must not read the signing key. When unset they
    /// are derived from the signing key or read from the database.
    pub public_key: Option<String>,
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `DATABASE_POOL_SIZE`: connections per pool. Default 10.
    pub pool_size: usize,
    /// `PROJECTOR_BATCH_SIZE`: events a projector applies per transaction. Default 500.
    pub projector_batch_size: i64,
    /// `PROJECTOR_POLL_MS`: how often projectors poll when no notification
    /// arrives. Default 1000 ms.
    pub projector_poll_interval: Duration,
    /// `PROJECTOR_COALESCE_MS`: under load, how long a projector woken by a
    /// commit waits for more commits to join its next batch. Default 20.
    pub projector_coalesce: Duration,
    /// `CONSISTENCY_WAIT_MS`: how long a query waits for its consistency
    /// token before answering 503. Default 5000 ms.
    pub consistency_wait: Duration,
    /// `SHUTDOWN_GRACE_SECONDS`: how long in-flight requests may take to
    /// finish after SIGINT/SIGTERM. Default 30 s.
    pub shutdown_grace: Duration,
    /// `REDIS_PREFIX`: put before every Redis key. Default `zekka:`.
    pub redis_prefix: String,
    /// Rate limits and lockout.
    pub limits: LimitsConfig,
    /// `TRUST_FORWARDED_FOR`: how many trusted reverse proxies stand in
    /// front of Zekka, each appending the address it was called from to
    /// `X-Forwarded-For`. The client's address is the entry that many places
    /// from the right; entries further left are the client's own words and
    /// ignored. `0` (or `false`): the peer is the client; `true` means 1.
    /// Default 0.
    pub trusted_proxy_hops: usize,
    /// `REFRESH_TOKEN_TTL_SECONDS`: how long a refresh token lives. Default 7 days.
    pub refresh_token_ttl: Duration,
    /// `SESSION_MAX_AGE`: seconds a session lasts from its sign-in, however
    /// often it is refreshed; then the person signs in again. Default 30 days.
    pub session_max_age: Duration,
    /// `ZEKKA_ADMIN_EMAILS`: comma-separated emails that get the system
    /// `admin` role once verified (`zekka users grant-role` grants it too).
    pub admin_emails: Vec<String>,
    /// `ZEKKA_AUDITOR_EMAILS`: comma-separated emails that get the system
    /// `auditor` role once verified.
    pub auditor_emails: Vec<String>,
    /// `CORS_ORIGINS`: comma-separated origins allowed to call the API from a
    /// browser. Default none (cross-origin calls are refused).
    pub cors_origins: Vec<String>,
    /// `REQUEST_TIMEOUT_SECONDS`: how long one request may take before it is
    /// answered 503. Default 30 s.
    pub request_timeout: Duration,
    /// `PUBLIC_URL`: where people reach the frontend, for links in mail.
    /// Default `http://localhost:8080`.
    pub public_url: String,
    /// `PASSWORD_RESET_TTL_SECONDS`: how long a reset link works. Default 1800.
    pub password_reset_ttl: Duration,
    /// `EMAIL_VERIFICATION_TTL_SECONDS`: how long a verification link works. Default 2 days.
    pub email_verification_ttl: Duration,
    /// `MAIL_POLL_MS`: how often the mailer looks for unsent mail. Default 1000.
    pub mail_poll_interval: Duration,
    /// `REALTIME_QUEUE`: messages queued per WebSocket before a client too
    /// slow to read them is disconnected. Default 256.
    pub realtime_queue: usize,
    /// `AGGREGATE_CACHE`: how many aggregates of each type command-api keeps
    /// the last known state of in memory (a load then reads only newer
    /// events). Default 10,000.
    pub aggregate_cache: usize,
    /// `AUDIT_CHECKPOINT_SECONDS`: how often command-api signs a checkpoint
    /// of the event store's commit order (when events were added). Default 60.
    pub audit_checkpoint_interval: Duration,
    /// `SIGNING_KEY_REFRESH_SECONDS`: how often a process re-reads the token
    /// keys kept in the database, so a rotated-in key is trusted before it
    /// signs (`zekka keys rotate` publishes it 45 s ahead). Default 15.
    pub signing_key_refresh: Duration,
    /// `SMTP_URL`: the SMTP server mail goes through (`smtps://user:pass@host:465`,
    /// or `smtp://host:587?tls=required` for STARTTLS). Unset: mail is written to the log.
    pub smtp_url: Option<Secret>,
    /// `MAIL_FROM`: the sender of outgoing mail. Default `Zekka <no-reply@localhost>`.
    pub mail_from: String,
    /// `ARBITRATOR_CHAIN`: the arbitrators `POST /conflicts/{id}/arbitrate`
    /// tries in order, comma-separated: `rules` (first writer wins for code
    /// conflicts on locked files) or `ollama:<model>`; when none settles the
    /// conflict it is escalated to a person. Default `rules`.
    pub arbitrator_chain: Vec<String>,
    /// `OLLAMA_URL`: the Ollama-compatible server the `ollama:` arbitrators
    /// ask (`http://host:port` or `https://…`). Default `http://127.0.0.1:11434`.
    pub ollama_url: String,
    /// `OLLAMA_CA_CERT`: a PEM file of certificate authorities trusted, besides
    /// the public ones, for an `https://` `OLLAMA_URL` (a private CA).
    pub ollama_ca_cert: Option<String>,
    /// `ARBITRATOR_TIMEOUT_MS`: how long one arbitrator may take before the
    /// chain moves on. Default 10000.
    pub arbitrator_timeout: Duration,
    /// `ZEKKA_ALLOW_UNSAFE_DB`: `1` starts even when PostgreSQL runs with
    /// `fsync`, `synchronous_commit` or `full_page_writes` off (settings
    /// under which an acknowledged command can be lost), with a loud warning.
    /// Default: refuse to start.
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

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// When a variable is set to something that does not parse.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let parse = |name: &str, default: u64| -> Result<u64> {
            get(name).map_or(Ok(default), |v| {
                v.trim()
                    .parse()
                    .with_context(|| format!("{name} must be a whole number, got {v:?}"))
            })
        };
        let log_format = match get("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => anyhow::bail!("LOG_FORMAT must be `text` or `json`, got {other:?}"),
        };
        let host = get("HOST").map_or(Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), |v| {
            v.trim()
                .parse()
                .with_context(|| format!("HOST must be an IP address, got {v:?}"))
        })?;
        let rate = |name: &str, default: &str| -> Result<Rate> {
            Rate::parse(name, get(name).as_deref().unwrap_or(default))
        };
        let multiplier: f64 = get("ZEKKA_RATE_LIMIT_MULTIPLIER").map_or(Ok(1.0), |v| {
            v.trim()
                .parse()
                .with_context(|| format!("ZEKKA_RATE_LIMIT_MULTIPLIER must be a number, got {v:?}"))
        })?;
        anyhow::ensure!(
            multiplier.is_finite() && multiplier > 0.0,
            "ZEKKA_RATE_LIMIT_MULTIPLIER must be positive"
        );
        let limits = LimitsConfig {
            multiplier,
            login_failures_per_ip: rate("RATE_LIMIT_LOGIN_FAILURES", "20/900")?.scaled(multiplier),
            register_per_ip: rate("RATE_LIMIT_REGISTER", "30/60")?.scaled(multiplier),
            auth_per_ip: rate("RATE_LIMIT_AUTH", "60/60")?.scaled(multiplier),
            writes_per_user: rate("RATE_LIMIT_WRITES", "600/60")?.scaled(multiplier),
            lockout_threshold: u32::try_from(parse("LOGIN_LOCKOUT_THRESHOLD", 5)?.max(1))?,
            lockout_duration: Duration::from_secs(parse("LOGIN_LOCKOUT_SECONDS", 900)?.max(1)),
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(|item| item.trim().to_lowercase())
                        .filter(|item| !item.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Self {
            redis_prefix: get("REDIS_PREFIX").unwrap_or_else(|| "zekka:".to_owned()),
            limits,
            trusted_proxy_hops: match get("TRUST_FORWARDED_FOR").as_deref().map(str::trim) {
                None | Some("false" | "no") => 0,
                Some("true" | "yes") => 1,
                Some(hops) => hops.parse().with_context(|| {
                    format!("TRUST_FORWARDED_FOR must be a number of proxies (or true/false), got {hops:?}")
                })?,
            },
            refresh_token_ttl: Duration::from_secs(
                parse("REFRESH_TOKEN_TTL_SECONDS", 7 * 24 * 3600)?.max(60),
            ),
            session_max_age: Duration::from_secs(parse("SESSION_MAX_AGE", 30 * 24 * 3600)?.max(1)),
            admin_emails: list("ZEKKA_ADMIN_EMAILS"),
            auditor_emails: list("ZEKKA_AUDITOR_EMAILS"),
            cors_origins: get("CORS_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            request_timeout: Duration::from_secs(parse("REQUEST_TIMEOUT_SECONDS", 30)?.max(1)),
            public_url: get("PUBLIC_URL")
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .unwrap_or_else(|| "http://localhost:8080".to_owned()),
            password_reset_ttl: Duration::from_secs(parse("PASSWORD_RESET_TTL_SECONDS", 1800)?.max(60)),
            email_verification_ttl: Duration::from_secs(
                parse("EMAIL_VERIFICATION_TTL_SECONDS", 2 * 24 * 3600)?.max(60),
            ),
            mail_poll_interval: Duration::from_millis(parse("MAIL_POLL_MS", 1000)?.max(10)),
            realtime_queue: usize::try_from(parse("REALTIME_QUEUE", 256)?.max(1)).unwrap_or(256),
            aggregate_cache: usize::try_from(parse("AGGREGATE_CACHE", 10_000)?.max(1)).unwrap_or(10_000),
            audit_checkpoint_interval: Duration::from_secs(parse("AUDIT_CHECKPOINT_SECONDS", 60)?.max(1)),
            signing_key_refresh: Duration::from_secs(parse("SIGNING_KEY_REFRESH_SECONDS", 15)?.max(1)),
            smtp_url: get("SMTP_URL").map(Secret::new),
            mail_from: get("MAIL_FROM").unwrap_or_else(|| "Zekka <no-reply@localhost>".to_owned()),
            arbitrator_chain: arbitrator_chain(get("ARBITRATOR_CHAIN").as_deref().unwrap_or("rules"))?,
            ollama_url: get("OLLAMA_URL").unwrap_or_else(|| "http://127.0.0.1:11434".to_owned()),
            ollama_ca_cert: get("OLLAMA_CA_CERT"),
            arbitrator_timeout: Duration::from_millis(parse("ARBITRATOR_TIMEOUT_MS", 10_000)?.max(1)),
            allow_unsafe_db: get("ZEKKA_ALLOW_UNSAFE_DB")
                .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes")),
            database_url: get("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/zekka".to_owned()),
            redis_url: get("REDIS_URL"),
            host,
            port: u16::try_from(parse("PORT", 8080)?).context("PORT must be below 65536")?,
            signing_key: get("ZEKKA_SIGNING_KEY").map(Secret::new),
            master_key: get("ZEKKA_MASTER_KEY").map(Secret::new),
            public_key: get("ZEKKA_PUBLIC_KEY"),
            log_format,
            pool_size: usize::try_from(parse("DATABASE_POOL_SIZE", 10)?.max(1))?,
            projector_batch_size: i64::try_from(parse("PROJECTOR_BATCH_SIZE", 500)?.clamp(1, 10_000))?,
            projector_poll_interval: Duration::from_millis(parse("PROJECTOR_POLL_MS", 1000)?.max(10)),
            projector_coalesce: Duration::from_millis(parse("PROJECTOR_COALESCE_MS", 20)?.min(1000)),
            consistency_wait: Duration::from_millis(parse("CONSISTENCY_WAIT_MS", 5000)?),
            shutdown_grace: Duration::from_secs(parse("SHUTDOWN_GRACE_SECONDS", 30)?),
        })
    }

    /// The same configuration pointing at another database (tests use one each).
    pub fn with_database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = url.into();
        self
    }
}

/// `ARBITRATOR_CHAIN` read into its steps: `rules` or `ollama:<model>`.
fn arbitrator_chain(raw: &str) -> Result<Vec<String>> {
    let steps: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|step| !step.is_empty())
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(
        !steps.is_empty(),
        "ARBITRATOR_CHAIN must name at least one arbitrator"
    );
    for step in &steps {
        let valid = step == "rules"
            || step
                .strip_prefix("ollama:")
                .is_some_and(|model| !model.trim().is_empty());
        anyhow::ensure!(
            valid,
            "ARBITRATOR_CHAIN: {step:?} is neither `rules` nor `ollama:<model>`"
        );
    }
    Ok(steps)
}
