//! Waking event readers (projectors, the real-time hub) when events commit.
//!
//! One dedicated connection per process `LISTEN`s on `zekka_events`. Each
//! notification bumps a counter that every projector watches; a `watch`
//! channel never loses a wake-up between a projector's check and its wait.
//! When the connection drops it is re-established with back-off, and
//! projectors fall back to polling meanwhile.
//!
//! The writer announces its appends ([`AppendSignal`]): after a commit, at
//! most one `NOTIFY` per interval, on a connection of its own. A `NOTIFY`
//! inside the appending transaction (a trigger, as before migration 0019)
//! serialises every commit on PostgreSQL's notification queue lock, which
//! cut appends from 13,000/s to 3,400/s on this machine
//! (docs/performance.md). Events written by anything else (psql, a
//! restore) are found by the projectors' polling.

use std::str::FromStr;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel appends are announced on.
pub const CHANNEL: &str = "zekka_events";

/// The channel projectors notify when a batch commits (the real-time hub
/// pushes only what is projected).
pub const PROJECTED_CHANNEL: &str = "zekka_projected";

/// A projector's view of the notifications.
#[derive(Debug, Clone)]
pub struct Wakeup(watch::Receiver<u64>);

impl Wakeup {
    /// Takes every notification so far as seen: [`Wakeup::notified`] then
    /// waits for one that comes after this call.
    pub fn mark_seen(&mut self) {
        self.0.borrow_and_update();
    }

    /// Completes at the next notification after the last one seen.
    pub async fn notified(&mut self) {
        if self.0.changed().await.is_err() {
            // The listener is gone (shutting down): never wake, let the poll
            // interval or the shutdown signal decide.
            std::future::pending::<()>().await;
        }
    }
}

/// Starts the listener; it runs until `stop` completes (the process's
/// shutdown signal).
pub fn spawn_listener(database_url: String, stop: impl Future<Output = ()> + Send + 'static) -> Wakeup {
    spawn_listener_on(database_url, CHANNEL, stop)
}

/// Starts a listener on `channel`; it runs until `stop` completes.
pub fn spawn_listener_on(
    database_url: String,
    channel: &'static str,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Wakeup {
    let (listener, wakeup) = pending_listener();
    tokio::spawn(listener.run(database_url, channel, stop));
    wakeup
}

/// A listener to start later, whose [`Wakeup`] can be handed out now
/// (built before the process has a shutdown signal to run it with).
pub struct PendingListener(watch::Sender<u64>);

impl PendingListener {
    /// Listens on `channel` until `stop` completes (a task to run).
    pub async fn run(self, database_url: String, channel: &'static str, stop: impl Future<Output = ()>) {
        listen(database_url, channel, self.0, stop).await;
    }
}

/// A listener not started yet, and the [`Wakeup`] it will drive.
pub fn pending_listener() -> (PendingListener, Wakeup) {
    let (sender, receiver) = watch::channel(0_u64);
    (PendingListener(sender), Wakeup(receiver))
}

async fn listen(
    database_url: String,
    channel: &'static str,
    sender: watch::Sender<u64>,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut delays = reconnect_delays();
    loop {
        let session = listen_once(&database_url, channel, &sender);
        tokio::select! {
            biased;
            () = &mut stop => return,
            result = session => {
                if let Err(error) = result {
                    tracing::warn!(%error, "event notification listener lost; reconnecting");
                }
            }
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(delays.next().unwrap_or(RECONNECT_CEILING)) => {}
        }
    }
}

/// The longest pause between two connection attempts.
const RECONNECT_CEILING: Duration = Duration::from_secs(10);

/// Pauses between connection attempts: 100 ms doubling up to
/// [`RECONNECT_CEILING`], with jitter, so processes that lost the database
/// together do not reconnect in step.
fn reconnect_delays() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(RECONNECT_CEILING)
        .with_jitter()
        .without_max_times()
        .build()
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

/// Announces appended events on [`CHANNEL`]: [`AppendSignal::appended`] is
/// cheap and never waits; a task sends one `NOTIFY` for however many
/// appends happened since the last, then pauses `min_interval`, so the
/// notifications stay few however fast commands come. The task ends when
/// the last handle is dropped.
#[derive(Debug, Clone)]
pub struct AppendSignal(tokio::sync::mpsc::Sender<()>);

impl AppendSignal {
    /// Starts the announcing task on a connection of its own (reconnecting
    /// with back-off when it drops).
    pub fn spawn(database_url: String, min_interval: Duration) -> Self {
        // One pending announcement at most: later appends join it.
        let (sender, pending) = tokio::sync::mpsc::channel(1);
        tokio::spawn(announce(database_url, pending, min_interval));
        Self(sender)
    }

    /// Says that events were committed.
    pub fn appended(&self) {
        // Full: an announcement is already pending and will cover these.
        let _ = self.0.try_send(());
    }
}

async fn announce(
    database_url: String,
    mut pending: tokio::sync::mpsc::Receiver<()>,
    min_interval: Duration,
) {
    let mut delays = reconnect_delays();
    loop {
        let connected = async {
            let config = tokio_postgres::Config::from_str(&database_url)?;
            let (client, connection) = config.connect(NoTls).await?;
            Ok::<_, tokio_postgres::Error>((client, tokio::spawn(connection)))
        }
        .await;
        let (client, connection) = match connected {
            Ok(connected) => connected,
            Err(_) if pending.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "append announcer cannot connect; retrying");
                tokio::time::sleep(delays.next().unwrap_or(RECONNECT_CEILING)).await;
                continue;
            }
        };
        delays = reconnect_delays();
        let notify = format!("NOTIFY {CHANNEL}");
        // Anything committed while disconnected is announced at once.
        let mut due = true;
        loop {
            if !due && pending.recv().await.is_none() {
                connection.abort();
                return;
            }
            due = false;
            if let Err(error) = client.batch_execute(&notify).await {
                tracing::warn!(%error, "append announcer lost its connection; reconnecting");
                break;
            }
            tokio::time::sleep(min_interval).await;
        }
        connection.abort();
    }
}
