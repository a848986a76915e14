//! What start-up logs of the configuration, secrets masked.

use super::*;

/// `url` with its password, if any, replaced by `***`.
pub(super) fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl Config {
    /// The configured master key of personal data (`ZEKKA_MASTER_KEY`), as
    /// the store's sealing takes it.
    pub fn master_key_text(&self) -> Option<&str> {
        self.master_key.as_ref().map(Secret::expose)
    }

    /// What start-up logs: the settings that shape behaviour, with every
    /// secret shown only as set or not (and passwords in URLs masked).
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let secret = |value: &Option<Secret>, otherwise: &str| {
            value
                .as_ref()
                .map_or_else(|| otherwise.to_owned(), |_| "set".to_owned())
        };
        vec![
            ("DATABASE_URL", masked(&self.database_url)),
            (
                "DATABASE_READ_URL",
                self.database_read_url
                    .as_deref()
                    .map_or_else(|| "unset: reads from DATABASE_URL".to_owned(), masked),
            ),
            (
                "REDIS_URL",
                self.redis_url
                    .as_deref()
                    .map_or_else(|| "unset: shared state kept in this process".to_owned(), masked),
            ),
            ("HOST:PORT", format!("{}:{}", self.host, self.port)),
            ("DATABASE_POOL_SIZE", self.pool_size.to_string()),
            (
                "ZEKKA_SIGNING_KEY",
                secret(&self.signing_key, "unset: kept in the database"),
            ),
            (
                "ZEKKA_MASTER_KEY",
                secret(&self.master_key, "unset: kept in the database"),
            ),
            ("SMTP_URL", secret(&self.smtp_url, "unset: mail goes to the log")),
            ("TRUST_FORWARDED_FOR", self.trusted_proxy_hops.to_string()),
            (
                "REQUEST_TIMEOUT_SECONDS",
                self.request_timeout.as_secs().to_string(),
            ),
            ("AGGREGATE_CACHE", self.aggregate_cache.to_string()),
            ("PROJECTOR_BATCH_SIZE", self.projector_batch_size.to_string()),
            ("SEARCH_CANDIDATES", self.search_candidates.to_string()),
            ("ARBITRATOR_CHAIN", self.arbitrator_chain.join(",")),
            ("OLLAMA_URL", masked(&self.ollama_url)),
            ("ZEKKA_ALLOW_UNSAFE_DB", self.allow_unsafe_db.to_string()),
        ]
    }
}
