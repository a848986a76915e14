//! Group commit: the appends of concurrent commands (on different streams)
//! share one statement, one transaction and one WAL flush.
//!
//! An append is handed to a writer task. When a statement slot is free it
//! goes at once, alone, so an idle server adds no latency. When every slot
//! is busy (the database is the bottleneck), the appends that arrive
//! meanwhile wait and then go together: PostgreSQL writes ten events in one
//! transaction for about the price of two single-event transactions.
//!
//! Each stream keeps its own optimistic-concurrency check: a group that
//! PostgreSQL refuses (a stream's key taken by another process, say) is
//! retried as one append per stream, so each command gets exactly the answer
//! it would have had alone, and no stream is ever half-appended. A group
//! whose outcome is unknown (the connection went) is not retried: every
//! member is told so, as it would have been alone. Within a process a stream
//! is never in two pending appends at once: commands on one aggregate take
//! their turn (`KeyedLocks`) before they append.
//!
//! Each slot writes on a connection of the writer's own, not one borrowed
//! from the pool: sqlx 0.8 pings a pooled connection every time it goes back
//! (a second round trip per statement, `PoolConnection::return_to_pool`).

use std::sync::{Arc, Mutex};

use crate::event_log::Position;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, PgPool};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::sql::{self, Batch};

/// Statements in flight at once. Fewer slots group more appends (more
/// throughput at saturation) but make appends wait for a slot sooner (more
/// latency below it). On 2 cores, 6 keeps the latency of 16 clients as it
/// was without grouping and lifts 48 clients from 25 % to 41 % of the
/// pgbench ceiling; 4 gave 48 % but doubled the p99 below saturation
/// (docs/performance.md).
const IN_FLIGHT: usize = 6;

/// The most streams one statement appends to.
const MAX_GROUP: usize = 64;

/// Appends waiting for a statement slot, at most (then senders wait).
const QUEUE: usize = 1024;

/// A handle on the writer task; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    sender: mpsc::Sender<Pending>,
    pool: PgPool,
}

/// One stream's append, waiting for its statement.
struct Pending {
    aggregate_type: &'static str,
    aggregate_id: String,
    batch: Batch,
    reply: oneshot::Sender<Result<Position, sqlx::Error>>,
    /// When it was handed to the writer.
    queued: std::time::Instant,
}

impl GroupCommit {
    /// Starts the writer task over `pool`. It ends when every handle is
    /// dropped, after the appends already handed to it.
    pub fn spawn(pool: PgPool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write(pool.clone(), receiver));
        Self { sender, pool }
    }

    /// Appends `batch` to one stream (no snapshot), possibly in one
    /// statement with other streams' appends. Returns the position of its
    /// last event.
    ///
    /// # Errors
    /// The error this append alone met (a unique violation when another
    /// writer took its sequence).
    pub async fn append(
        &self,
        aggregate_type: &'static str,
        aggregate_id: &str,
        batch: Batch,
    ) -> Result<Position, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            aggregate_type,
            aggregate_id: aggregate_id.to_owned(),
            batch,
            reply,
            queued: std::time::Instant::now(),
        };
        match self.sender.send(pending).await {
            Ok(()) => answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed)),
            // The writer is gone (the runtime is shutting down): append alone.
            Err(mpsc::error::SendError(pending)) => pending.append_alone(&self.pool).await,
        }
    }
}

impl Pending {
    /// This append in a statement of its own.
    async fn append_alone(&self, pool: &PgPool) -> Result<Position, sqlx::Error> {
        sql::append_rows(pool, self.aggregate_type, &self.aggregate_id, &self.batch, None).await
    }
}

/// The writer's connections, at most one per slot, opened when first needed.
struct Connections {
    options: Arc<PgConnectOptions>,
    idle: Mutex<Vec<PgConnection>>,
}

impl Connections {
    /// An idle connection, or a new one.
    async fn take(&self) -> Result<PgConnection, sqlx::Error> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(connection) => Ok(connection),
            None => PgConnection::connect_with(&self.options).await,
        }
    }

    /// Keeps `connection` for the next statement, unless `outcome` says it
    /// may be broken (then it is dropped and the next statement opens one).
    fn give_back<T>(&self, connection: PgConnection, outcome: &Result<T, sqlx::Error>) {
        if matches!(outcome, Ok(_) | Err(sqlx::Error::Database(_)))
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push(connection);
        }
    }
}

/// The writer: takes a statement slot, gathers what is waiting, writes it.
async fn write(pool: PgPool, mut receiver: mpsc::Receiver<Pending>) {
    let connections = Arc::new(Connections {
        options: pool.connect_options(),
        idle: Mutex::new(Vec::with_capacity(IN_FLIGHT)),
    });
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = receiver.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(pending) => group.push(pending),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        let connections = connections.clone();
        tokio::spawn(async move {
            commit(&pool, &connections, group).await;
            drop(slot);
        });
    }
}

/// Writes `group` in one statement, or each alone when that fails.
async fn commit(pool: &PgPool, connections: &Connections, mut group: Vec<Pending>) {
    let waited = crate::metrics::METRICS
        .command_wait
        .with_label_values(&["group_commit_slot"]);
    for pending in &group {
        waited.observe(pending.queued.elapsed().as_secs_f64());
    }
    let mut connection = match connections.take().await {
        Ok(connection) => connection,
        Err(error) => {
            tracing::warn!(%error, "the group writer cannot connect; appending through the pool");
            for pending in group {
                let result = pending.append_alone(pool).await;
                let _ = pending.reply.send(result);
            }
            return;
        }
    };
    if group.len() == 1
        && let Some(alone) = group.pop()
    {
        let result = sql::append_rows(
            &mut connection,
            alone.aggregate_type,
            &alone.aggregate_id,
            &alone.batch,
            None,
        )
        .await;
        connections.give_back(connection, &result);
        let _ = alone.reply.send(result);
        return;
    }
    // One order for every group, so two processes' groups take the streams'
    // index entries in the same order and cannot deadlock on them.
    group.sort_by(|a, b| (a.aggregate_type, &a.aggregate_id).cmp(&(b.aggregate_type, &b.aggregate_id)));
    let streams: Vec<(&str, &str, &Batch)> = group
        .iter()
        .map(|p| (p.aggregate_type, p.aggregate_id.as_str(), &p.batch))
        .collect();
    let appended = sql::append_streams(&mut connection, &streams).await;
    connections.give_back(connection, &appended);
    match appended {
        Ok(positions) => {
            for pending in group {
                let position = positions
                    .iter()
                    .find(|(t, id, _)| t == pending.aggregate_type && *id == pending.aggregate_id)
                    .map(|(_, _, position)| *position)
                    .ok_or_else(|| sqlx::Error::Protocol("a grouped append returned no position".into()));
                let _ = pending.reply.send(position);
            }
        }
        // The outcome is unknown (the connection went): each command is told
        // so, as it would have been alone; nothing is retried blindly.
        Err(error) if !matches!(error, sqlx::Error::Database(_)) => {
            for pending in group {
                let _ = pending
                    .reply
                    .send(Err(sqlx::Error::Io(std::io::Error::other(format!(
                        "the grouped append's outcome is unknown: {error}"
                    )))));
            }
        }
        // PostgreSQL refused the statement, so nothing of it was stored.
        Err(error) => {
            tracing::debug!(%error, streams = group.len(), "a group append failed; appending each alone");
            let mut alone = tokio::task::JoinSet::new();
            for pending in group {
                let pool = pool.clone();
                alone.spawn(async move {
                    let result = pending.append_alone(&pool).await;
                    let _ = pending.reply.send(result);
                });
            }
            while alone.join_next().await.is_some() {}
        }
    }
}
