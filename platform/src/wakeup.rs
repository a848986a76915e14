//! Waking event readers (projectors, the real-time hub) when events commit.
//!
//! One dedicated connection per process `LISTEN`s on `zekka_events` (a
//! trigger on `events` notifies at commit). Each notification bumps a
//! counter that every projector watches; a `watch` channel never loses a
//! wake-up between a projector's check and its wait. When the connection
//! drops it is re-established with back-off, and projectors fall back to
//! polling meanwhile.

use std::str::FromStr;
use std::time::Duration;

use crate::shutdown::Shutdown;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel the events trigger notifies.
pub const CHANNEL: &str = "zekka_events";

/// The channel projectors notify when a batch commits (the real-time hub
/// pushes only what is projected).
pub const PROJECTED_CHANNEL: &str = "zekka_projected";

/// A projector's view of the notifications.
#[derive(Debug, Clone)]
pub struct Wakeup(watch::Receiver<u64>);

impl Wakeup {
    /// Completes at the next notification after the last one seen.
    pub async fn notified(&mut self) {
        if self.0.changed().await.is_err() {
            // The listener is gone (shutting down): never wake, let the poll
            // interval or the shutdown signal decide.
            std::future::pending::<()>().await;
        }
    }
}

/// Starts the listener; it runs until `shutdown`.
pub fn spawn_listener(database_url: String, shutdown: Shutdown) -> Wakeup {
    spawn_listener_on(database_url, CHANNEL, shutdown)
}

/// Starts a listener on `channel`; it runs until `shutdown`.
pub fn spawn_listener_on(database_url: String, channel: &'static str, shutdown: Shutdown) -> Wakeup {
    let (sender, receiver) = watch::channel(0_u64);
    tokio::spawn(listen(database_url, channel, sender, shutdown));
    Wakeup(receiver)
}

async fn listen(
    database_url: String,
    channel: &'static str,
    sender: watch::Sender<u64>,
    mut shutdown: Shutdown,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        let session = listen_once(&database_url, channel, &sender);
        tokio::select! {
            () = shutdown.wait() => return,
            result = session => {
                if let Err(error) = result {
                    tracing::warn!(%error, "event notification listener lost; reconnecting");
                }
            }
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn listen_once(
    database_url: &str,
    channel: &str,
    sender: &watch::Sender<u64>,
) -> Result<(), tokio_postgres::Error> {
    let config = tokio_postgres::Config::from_str(database_url)?;
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {channel}");
    let listen = client.batch_execute(&statement);
    // The connection must be polled for the LISTEN to complete.
    let mut listen = std::pin::pin!(listen);
    loop {
        tokio::select! {
            result = &mut listen => { result?; break; }
            message = messages.next() => match message {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            },
        }
    }
    // Anything committed while we were not listening is caught by this wake-up.
    sender.send_modify(|n| *n = n.wrapping_add(1));
    while let Some(message) = messages.next().await {
        if let AsyncMessage::Notification(_) = message? {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
    Ok(())
}
