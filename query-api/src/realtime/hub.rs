//! The hub: one per query-api process. It follows the event stream itself
//! (the gap-free catch-up order, only as far as the projections have
//! applied, so a pushed event is already readable; projectors notify
//! `zekka_projected` when a batch commits, and the hub polls besides), turns events into
//! messages, and hands each to the sockets subscribed to its project or
//! conversation without ever waiting for one: a socket whose queue is full
//! is told to close. Every process runs its own hub, so sockets on every
//! process see every event; the stream stays the source of truth.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zekka_event_store::database::CachedQueries;

use serde_json::json;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;
use zekka_event_store::database::ReadPool;
use zekka_event_store::event_log::{self, Position};
use zekka_event_store::personal_data::PersonalData;
use zekka_event_store::wakeup::Wakeup;
use zekka_platform::money;
use zekka_platform::relay::Relay;
use zekka_platform::shutdown::Shutdown;

use super::messages::{self, Outgoing};

/// Events read per round trip.
const BATCH: i64 = 500;
/// How often the hub looks for events while no notification arrives.
const POLL: Duration = Duration::from_millis(25);
/// The projections whose models pushed events are read from.
const PROJECTIONS: [&str; 6] = [
    "conversations",
    "projects",
    "agents",
    "conflicts",
    "sources",
    "streams",
];
/// The streams clients hear of.
const TYPES: [&str; 7] = [
    "Conversation",
    "Agent",
    "Project",
    "Conflict",
    "Execution",
    "Task",
    "Source",
];

/// What one socket listens to.
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// Projects, all their events.
    pub projects: HashSet<Uuid>,
    /// Conversations (with their project), their events only.
    pub conversations: HashMap<Uuid, Uuid>,
}

/// One connected socket, as the hub sees it.
pub struct Subscriber {
    /// The signed-in user (for an API key, who issued it).
    pub user_id: Uuid,
    /// Whether it hears its user's own channel (a person's socket, not a key's).
    pub personal: bool,
    /// What it listens to.
    pub subscriptions: Mutex<Subscriptions>,
    pub(super) sender: mpsc::Sender<Outgoing>,
    /// Set when its queue overflowed: the socket must close.
    pub overflowed: AtomicBool,
    /// Woken when `overflowed` is set.
    pub overflow: Notify,
}

impl Subscriber {
    fn wants(&self, message: &Outgoing) -> bool {
        let Ok(subscriptions) = self.subscriptions.lock() else {
            return false;
        };
        message
            .project_id
            .is_some_and(|p| subscriptions.projects.contains(&p))
            || message
                .conversation_id
                .is_some_and(|c| subscriptions.conversations.contains_key(&c))
    }

    /// Forgets everything of `project` (its owner removed this user).
    fn drop_project(&self, project: Uuid) {
        if let Ok(mut subscriptions) = self.subscriptions.lock() {
            subscriptions.projects.remove(&project);
            subscriptions.conversations.retain(|_, p| *p != project);
        }
    }
}

/// The hub's registry and position.
pub(super) struct State {
    pub(super) sockets: HashMap<u64, Arc<Subscriber>>,
    /// The last event dispatched.
    cursor: Position,
}

/// Fans events out to this process's sockets.
pub struct Hub {
    pool: ReadPool,
    personal: Arc<PersonalData>,
    queue: usize,
    pub(super) state: Mutex<State>,
    next_id: AtomicU64,
    /// Projects with new events since the last `metrics:updated`.
    dirty: Mutex<HashSet<Uuid>>,
    /// Which project each conversation, agent or conflict belongs to.
    owners: Mutex<HashMap<String, Uuid>>,
    /// Typing indicators, between every process's hubs.
    pub(super) typing: Relay,
    /// This process, as typing indicators name it.
    pub(super) process: Uuid,
}

impl Hub {
    /// A hub over `pool`, queueing at most `queue` messages per socket,
    /// passing typing indicators through `typing`.
    pub fn new(pool: ReadPool, personal: Arc<PersonalData>, queue: usize, typing: Relay) -> Arc<Self> {
        Arc::new(Self {
            pool,
            personal,
            queue: queue.max(1),
            state: Mutex::new(State {
                sockets: HashMap::new(),
                cursor: Position::START,
            }),
            next_id: AtomicU64::new(1),
            dirty: Mutex::new(HashSet::new()),
            owners: Mutex::new(HashMap::new()),
            typing,
            process: Uuid::new_v4(),
        })
    }

    /// The pool (for the sockets' own queries).
    pub fn pool(&self) -> &ReadPool {
        &self.pool
    }

    /// Personal data opener (for replays).
    pub fn personal(&self) -> &Arc<PersonalData> {
        &self.personal
    }

    /// Registers a socket of `user_id` (hearing that user's own channel
    /// when `personal`); returns its id, its handle and the queue it reads.
    pub fn register(
        &self,
        user_id: Uuid,
        personal: bool,
    ) -> (u64, Arc<Subscriber>, mpsc::Receiver<Outgoing>) {
        let (sender, receiver) = mpsc::channel(self.queue);
        let subscriber = Arc::new(Subscriber {
            user_id,
            personal,
            subscriptions: Mutex::new(Subscriptions::default()),
            sender,
            overflowed: AtomicBool::new(false),
            overflow: Notify::new(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut state) = self.state.lock() {
            state.sockets.insert(id, subscriber.clone());
        }
        zekka_platform::metrics::METRICS.websocket_connections.inc();
        (id, subscriber, receiver)
    }

    /// Forgets socket `id`.
    pub fn unregister(&self, id: u64) {
        if let Ok(mut state) = self.state.lock()
            && state.sockets.remove(&id).is_some()
        {
            zekka_platform::metrics::METRICS.websocket_connections.dec();
        }
    }

    /// Changes what a socket listens to and returns the hub's position at
    /// that moment, atomically with dispatch: every later event for the new
    /// subscription reaches the socket's queue, every earlier one is at or
    /// before the position returned.
    pub fn subscribe(&self, subscriber: &Subscriber, change: impl FnOnce(&mut Subscriptions)) -> Position {
        let Ok(state) = self.state.lock() else {
            return Position::START;
        };
        if let Ok(mut subscriptions) = subscriber.subscriptions.lock() {
            change(&mut subscriptions);
        }
        state.cursor
    }

    /// The position of the last event dispatched.
    pub fn cursor(&self) -> Position {
        self.state.lock().map(|s| s.cursor).unwrap_or(Position::START)
    }

    /// Follows the stream until `shutdown`, from its head at start.
    pub async fn run(self: Arc<Self>, mut wakeup: Wakeup, mut shutdown: Shutdown) {
        let mut metrics_sent = Instant::now();
        loop {
            match self.head().await {
                Ok(head) => {
                    if let Ok(mut state) = self.state.lock() {
                        state.cursor = head;
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "real-time hub cannot read the stream's head; retrying");
                    tokio::select! {
                        () = shutdown.wait() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        while !shutdown.is_triggered() {
            match self.follow().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "real-time hub read failed; retrying"),
            }
            if metrics_sent.elapsed() >= Duration::from_secs(1) {
                self.send_metrics().await;
                metrics_sent = Instant::now();
            }
            tokio::select! {
                () = shutdown.wait() => break,
                () = wakeup.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn head(&self) -> Result<Position, tokio_postgres::Error> {
        let client = match self.pool.get().await {
            Ok(client) => client,
            Err(deadpool_postgres::PoolError::Backend(error)) => return Err(error),
            Err(_) => return Ok(Position::START),
        };
        event_log::stable_head(&client).await
    }

    /// Reads and dispatches one batch; whether there may be more.
    async fn follow(&self) -> Result<bool, String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        let projected = client
            .query_opt_cached(
                "SELECT transaction_id, global_position FROM projection_checkpoints WHERE name = ANY($1)
                  ORDER BY transaction_id, global_position LIMIT 1",
                &[&&PROJECTIONS[..]],
            )
            .await
            .map_err(|e| e.to_string())?;
        let Some(projected) = projected else {
            return Ok(false);
        };
        let until = Position {
            transaction_id: projected.try_get(0).map_err(|e| e.to_string())?,
            global_position: projected.try_get(1).map_err(|e| e.to_string())?,
        };
        let after = self.cursor();
        if until <= after {
            return Ok(false);
        }
        let mut events = event_log::read_between(&client, after, Some(until), BATCH, &TYPES)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(false);
        };
        self.personal
            .open_events(&client, &mut events)
            .await
            .map_err(|e| e.to_string())?;
        let mut outgoing = Vec::new();
        for event in &events {
            if !TYPES.contains(&event.aggregate_type.as_str()) {
                continue;
            }
            let project = self.project_of(&client, event).await;
            if let Some(project) = project
                && let Ok(mut dirty) = self.dirty.lock()
            {
                dirty.insert(project);
            }
            if let Some(message) = messages::outgoing(event, project) {
                outgoing.push(message);
            }
            outgoing.extend(messages::personal(event, project));
            if event.event_type == "InvitationSent"
                && let Some(message) = Self::invitation(&client, event, project).await
            {
                outgoing.push(message);
            }
        }
        self.dispatch(outgoing, last);
        Ok(events.len() as i64 == BATCH)
    }

    /// `invitation:received` for the account registered with the invited
    /// address, if there is one (the token never leaves the server).
    async fn invitation(
        client: &deadpool_postgres::Client,
        event: &zekka_event_store::event_log::StoredEvent,
        project: Option<Uuid>,
    ) -> Option<Outgoing> {
        let fields = event.payload.get(&event.event_type)?;
        let email = fields.get("email")?.as_str()?;
        let user: Uuid = client
            .query_opt_cached("SELECT user_id FROM rm_users WHERE email = $1", &[&email])
            .await
            .ok()
            .flatten()?
            .try_get(0)
            .ok()?;
        let name: Option<String> = match project {
            Some(project) => client
                .query_opt_cached("SELECT name FROM rm_projects WHERE project_id = $1", &[&project])
                .await
                .ok()
                .flatten()
                .and_then(|row| row.try_get(0).ok()),
            None => None,
        };
        let data = json!({
            "invitation_id": fields.get("invitation_id"),
            "project_id": project,
            "project_name": name,
            "role": fields.get("role"),
            "invited_by": fields.get("invited_by"),
            "expires_at": fields.get("expires_at"),
            "at": event.recorded_at.to_rfc3339(),
        });
        Some(messages::to_person(
            user,
            event.position,
            "invitation:received",
            data,
        ))
    }

    /// The project of an event's stream, from its payload, the cache, or the read models.
    async fn project_of(
        &self,
        client: &deadpool_postgres::Client,
        event: &zekka_event_store::event_log::StoredEvent,
    ) -> Option<Uuid> {
        let key = format!("{}/{}", event.aggregate_type, event.aggregate_id);
        if let Some(project) = messages::project_in_payload(event) {
            if let Ok(mut owners) = self.owners.lock() {
                owners.insert(key, project);
            }
            return Some(project);
        }
        if let Some(project) = self.owners.lock().ok().and_then(|o| o.get(&key).copied()) {
            return Some(project);
        }
        let found = client
            .query_opt_cached(
                "SELECT project_id FROM rm_streams WHERE aggregate_type = $1 AND aggregate_id = $2",
                &[&event.aggregate_type, &event.aggregate_id],
            )
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get::<_, Option<Uuid>>(0).ok().flatten());
        if let Some(project) = found
            && let Ok(mut owners) = self.owners.lock()
        {
            owners.insert(key, project);
        }
        found
    }

    /// Hands `messages` to every socket that wants them, never waiting.
    fn dispatch(&self, messages: Vec<Outgoing>, last: Position) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        for message in messages {
            for subscriber in state.sockets.values() {
                if let Some(user) = message.user_id {
                    if subscriber.personal && subscriber.user_id == user {
                        Self::offer(subscriber, &message);
                    }
                    continue;
                }
                if let Some(removed) = message.removed_member
                    && removed == subscriber.user_id
                    && let Some(project) = message.project_id
                {
                    subscriber.drop_project(project);
                    continue;
                }
                if subscriber.wants(&message) {
                    Self::offer(subscriber, &message);
                }
            }
        }
        state.cursor = last;
    }

    /// Queues `message` for `subscriber` without waiting; a full queue
    /// marks the socket to close.
    pub(super) fn offer(subscriber: &Subscriber, message: &Outgoing) {
        if subscriber.overflowed.load(Ordering::Relaxed) {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = subscriber.sender.try_send(message.clone()) {
            subscriber.overflowed.store(true, Ordering::Relaxed);
            subscriber.overflow.notify_one();
        }
    }

    /// `metrics:updated` for each project with new events that someone
    /// listens to, at most once a second.
    async fn send_metrics(&self) {
        let dirty: Vec<Uuid> = match self.dirty.lock() {
            Ok(mut dirty) => dirty.drain().collect(),
            Err(_) => return,
        };
        let watched: Vec<Uuid> = match self.state.lock() {
            Ok(state) => dirty
                .into_iter()
                .filter(|p| {
                    state
                        .sockets
                        .values()
                        .any(|s| s.subscriptions.lock().is_ok_and(|subs| subs.projects.contains(p)))
                })
                .collect(),
            Err(_) => return,
        };
        if watched.is_empty() {
            return;
        }
        let Ok(client) = self.pool.get().await else {
            return;
        };
        let rows = client
            .query_cached(
                "SELECT p.project_id,
                        (SELECT count(*) FROM rm_conversations WHERE project_id = p.project_id),
                        (SELECT coalesce(sum(message_count), 0)::bigint FROM rm_conversations
                          WHERE project_id = p.project_id),
                        (SELECT count(*) FROM rm_agents WHERE project_id = p.project_id),
                        (SELECT coalesce(sum(input_tokens), 0)::bigint FROM rm_usage_daily WHERE project_id = p.project_id),
                        (SELECT coalesce(sum(output_tokens), 0)::bigint FROM rm_usage_daily WHERE project_id = p.project_id),
                        (SELECT coalesce(sum(cost_usd), 0) FROM rm_usage_daily WHERE project_id = p.project_id),
                        (SELECT count(*) FILTER (WHERE status <> 'resolved') FROM rm_conflicts
                          WHERE project_id = p.project_id),
                        p.stage
                   FROM rm_projects p WHERE p.project_id = ANY($1)",
                &[&watched],
            )
            .await;
        let Ok(rows) = rows else {
            return;
        };
        let position = self.cursor();
        let mut messages = Vec::new();
        for row in rows {
            let stats = (|| {
                let project: Uuid = row.try_get(0)?;
                let data = json!({
                    "project_id": project,
                    "conversations": row.try_get::<_, i64>(1)?,
                    "messages": row.try_get::<_, i64>(2)?,
                    "agents": row.try_get::<_, i64>(3)?,
                    "tokens_input": row.try_get::<_, i64>(4)?,
                    "tokens_output": row.try_get::<_, i64>(5)?,
                    "cost_usd": money::to_wire(row.try_get(6)?),
                    "conflicts_open": row.try_get::<_, i64>(7)?,
                    "stage": row.try_get::<_, String>(8)?,
                });
                Ok::<_, tokio_postgres::Error>((project, data))
            })();
            if let Ok((project, data)) = stats {
                messages.push(Outgoing {
                    position,
                    project_id: Some(project),
                    conversation_id: None,
                    removed_member: None,
                    user_id: None,
                    text: messages::text("metrics:updated", data, position.global_position),
                });
            }
        }
        self.dispatch(messages, position);
    }
}
