//! The Redis client (through `fred`). Optional for now: when `REDIS_URL` is
//! set, `/readyz` checks it; revocation, rate limits and locks build on it.

use std::time::Duration;

use anyhow::{Context, Result};
use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};

/// The longest any Redis command may take: Redis answers in well under a
/// millisecond when it is there at all.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// A connected, self-reconnecting Redis client.
pub type RedisClient = fred::prelude::Client;

/// Connects to `url`. The client reconnects by itself (exponential back-off
/// up to 5 s) when Redis goes away; meanwhile every command fails after
/// [`COMMAND_TIMEOUT`] instead of waiting for the reconnection, so a request
/// that needs Redis gets its answer (503, or the documented fallback) at once.
///
/// # Errors
/// When the URL is invalid or the first connection fails.
pub async fn connect(url: &str) -> Result<RedisClient> {
    let config = Config::from_url(url).context("REDIS_URL is not a valid Redis URL")?;
    let client = Builder::from_config(config)
        .with_connection_config(|c| c.connection_timeout = Duration::from_secs(2))
        .with_performance_config(|c| c.default_command_timeout = COMMAND_TIMEOUT)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .build()
        .context("failed to build the Redis client")?;
    client.init().await.context("failed to connect to Redis")?;
    Ok(client)
}

/// Whether Redis answers a PING within a second.
///
/// # Errors
/// A description of what failed.
pub async fn ping(client: &RedisClient) -> Result<()> {
    let reply: Result<String, _> = tokio::time::timeout(Duration::from_secs(1), client.ping(None))
        .await
        .context("Redis did not answer within 1 s")?;
    reply.context("Redis refused PING")?;
    Ok(())
}
