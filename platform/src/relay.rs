//! Passing short messages between processes that are not stored anywhere
//! (a typing indicator): Redis pub/sub when `REDIS_URL` is set, so every
//! process hears every message; otherwise a channel inside this process
//! (one process, the newcomer default). A message published while Redis is
//! away is lost, which is what "not stored" means.

use anyhow::{Context, Result};
use fred::clients::SubscriberClient;
use fred::prelude::{Builder, ClientLike, EventInterface, PubsubInterface};
use tokio::sync::broadcast;

use crate::ephemeral::Ephemeral;
use crate::redis::RedisClient;
use crate::shutdown::Shutdown;

/// Messages kept for a slow receiver before it misses the oldest.
const BACKLOG: usize = 1024;

/// One named relay between processes.
#[derive(Clone)]
pub struct Relay {
    /// Where this process's receivers hear messages from.
    local: broadcast::Sender<String>,
    /// Redis, with the channel's full name, when configured.
    redis: Option<(RedisClient, String)>,
}

impl Relay {
    /// The relay `name`, over Redis when `ephemeral` is Redis.
    pub fn new(ephemeral: &Ephemeral, name: &str) -> Self {
        let (local, _) = broadcast::channel(BACKLOG);
        let redis = match ephemeral {
            Ephemeral::Redis { client, prefix } => Some((client.clone(), format!("{prefix}relay:{name}"))),
            Ephemeral::Local(_) => None,
        };
        Self { local, redis }
    }

    /// Sends `message` to every process's receivers (this one's included).
    /// Failures are logged, never answered: nothing depends on delivery.
    pub async fn publish(&self, message: String) {
        match &self.redis {
            Some((client, channel)) => {
                let sent: Result<i64, _> = client.publish(channel.as_str(), message).await;
                if let Err(error) = sent {
                    tracing::debug!(%error, "relay message lost: Redis is unavailable");
                }
            }
            None => {
                let _ = self.local.send(message);
            }
        }
    }

    /// A receiver of every message published from now on.
    pub fn receiver(&self) -> broadcast::Receiver<String> {
        self.local.subscribe()
    }

    /// Forwards the Redis channel to this process's receivers until
    /// `shutdown` (re-subscribing after Redis comes back); nothing to do
    /// without Redis.
    ///
    /// # Errors
    /// When the subscriber connection cannot be built.
    pub async fn run(self, mut shutdown: Shutdown) -> Result<()> {
        let Some((client, channel)) = &self.redis else {
            return Ok(());
        };
        let subscriber: SubscriberClient = Builder::from_config(client.client_config())
            .set_policy(fred::prelude::ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build_subscriber_client()
            .context("failed to build the relay's Redis subscriber")?;
        let connection = subscriber.init();
        let _resubscribing = subscriber.manage_subscriptions();
        let mut messages = subscriber.message_rx();
        tokio::select! {
            () = shutdown.wait() => return Ok(()),
            connected = connection => { connected.context("the relay cannot reach Redis")?; }
        }
        subscriber
            .subscribe(channel.as_str())
            .await
            .context("the relay cannot subscribe")?;
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                message = messages.recv() => match message {
                    Ok(message) => {
                        if let Some(text) = message.value.as_string() {
                            let _ = self.local.send(text);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "relay messages missed: the receiver lagged");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        let _ = subscriber.quit().await;
        Ok(())
    }
}
