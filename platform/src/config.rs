//! Typed configuration, read once from the environment. Every field has a
//! default that works on a developer machine with a local PostgreSQL.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::{Context, Result};

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
    /// `ZEKKA_PUBLIC_KEY`: the PASERK `k4.public.…` key that verifies access
    /// tokens, for a query-api that must not read the signing key. When unset
    /// it is derived from the signing key or read from the database.
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
    /// `CONSISTENCY_WAIT_MS`: how long a query waits for its consistency
    /// token before answering 503. Default 5000 ms.
    pub consistency_wait: Duration,
    /// `SHUTDOWN_GRACE_SECONDS`: how long in-flight requests may take to
    /// finish after SIGINT/SIGTERM. Default 30 s.
    pub shutdown_grace: Duration,
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
        Ok(Self {
            database_url: get("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/zekka".to_owned()),
            redis_url: get("REDIS_URL"),
            host,
            port: u16::try_from(parse("PORT", 8080)?).context("PORT must be below 65536")?,
            signing_key: get("ZEKKA_SIGNING_KEY").map(Secret::new),
            public_key: get("ZEKKA_PUBLIC_KEY"),
            log_format,
            pool_size: usize::try_from(parse("DATABASE_POOL_SIZE", 10)?.max(1))?,
            projector_batch_size: i64::try_from(parse("PROJECTOR_BATCH_SIZE", 500)?.clamp(1, 10_000))?,
            projector_poll_interval: Duration::from_millis(parse("PROJECTOR_POLL_MS", 1000)?.max(10)),
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn defaults_point_at_the_local_database_on_port_8080() {
        let config = Config::from_lookup(|_| None).expect("defaults parse");
        assert_eq!(config.database_url, "postgres://postgres@127.0.0.1:5432/zekka");
        assert_eq!(config.port, 8080);
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.signing_key.is_none());
    }

    #[test]
    fn a_malformed_port_is_a_clear_error() {
        let env = HashMap::from([("PORT", "eighty")]);
        let err = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect_err("must fail");
        assert!(err.to_string().contains("PORT"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("k4.secret.abc");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
