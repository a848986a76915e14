//! The command side's shared state.

use std::sync::Arc;

use anyhow::{Context, Result};
use cqrs_es::Aggregate;
use sqlx::PgPool;
use uuid::Uuid;
use zekka_domain::Decide;
use zekka_domain::agent::Agent;
use zekka_domain::conflict::Conflict;
use zekka_domain::conversation::Conversation;
use zekka_domain::execution::Execution;
use zekka_domain::preferences::Preferences;
use zekka_domain::pricing::ModelPrice;
use zekka_domain::project::Project;
use zekka_domain::projection::Projection;
use zekka_domain::session::Session;
use zekka_domain::source::{Source, SourceFolder};
use zekka_domain::task::Task;
use zekka_domain::upcasting;
use zekka_domain::user::User;
use zekka_platform::Config;
use zekka_platform::api_keys::ApiKeys;
use zekka_platform::blobs::Blobs;
use zekka_platform::locks::LockBus;

use crate::app::keyed_lock::KeyedLocks;
use zekka_event_store::database::ReadPool;
use zekka_event_store::personal_data::PersonalData;
use zekka_event_store::store::{BoundedCache, CommandBus, GroupCommit, Store, StorePolicy};
use zekka_event_store::wakeup::{AppendSignal, PendingListener, Wakeup};
use zekka_platform::ephemeral::Ephemeral;
use zekka_platform::rate_limit::RateLimiter;
use zekka_platform::revocation::Revocations;
use zekka_platform::tokens::TokenSigner;

/// What every command handler shares.
pub struct CommandState {
    /// Project API keys: verified on agent routes, revoked here.
    pub api_keys: Arc<ApiKeys>,
    /// File locks on the context bus (shared with the query side).
    pub locks: Arc<LockBus>,
    /// The HTTP client of the model servers the arbitrators ask (kept
    /// open between decisions; TLS with `OLLAMA_CA_CERT` trusted too).
    pub model_client: reqwest::Client,
    /// The conflicts being arbitrated in this process.
    pub arbitrations: crate::app::arbitration::Running,
    /// The write pool (the event store and the other write-side tables).
    pub pool: PgPool,
    /// The store's read connections: loads, and the look-ups of facts a
    /// command is built on (`zekka_event_store::lookups`).
    pub reads: ReadPool,
    /// The Project aggregate's command bus, with snapshots: usage records make
    /// a project's stream grow without bound.
    pub projects: CommandBus<Project>,
    /// The User aggregate's command bus.
    pub users: CommandBus<User>,
    /// The Session aggregate's command bus.
    pub sessions: CommandBus<Session>,
    /// The Conversation aggregate's command bus, with snapshots: a
    /// conversation's stream grows without bound, its load must not.
    pub conversations: CommandBus<Conversation>,
    /// The Preferences aggregate's command bus.
    pub preferences: CommandBus<Preferences>,
    /// The Conflict aggregate's command bus.
    pub conflicts: CommandBus<Conflict>,
    /// The Agent aggregate's command bus.
    pub agents: CommandBus<Agent>,
    /// The ModelPrice aggregate's command bus.
    pub pricing: CommandBus<ModelPrice>,
    /// The Projection aggregate's command bus (operators' skips).
    pub projections: CommandBus<Projection>,
    /// The Execution aggregate's command bus (runs of a project's workflow).
    pub executions: CommandBus<Execution>,
    /// The Task aggregate's command bus (the orchestrator's tasks, under leases).
    pub tasks: CommandBus<Task>,
    /// Sources (a project's files).
    pub sources: CommandBus<Source>,
    /// Folders of sources.
    pub source_folders: CommandBus<SourceFolder>,
    /// Where sources' bytes are kept.
    pub blobs: Blobs,
    /// Wakes whoever waits for the read models to move (an agent's long
    /// poll for work); driven by [`CommandState::projected_listener`].
    pub projected: Wakeup,
    /// The listener behind [`CommandState::projected`], until
    /// `CommandService::tasks` starts it.
    pub projected_listener: std::sync::Mutex<Option<PendingListener>>,
    /// Signs access tokens.
    pub signer: TokenSigner,
    /// Seals and opens personal data; erases people.
    pub personal: Arc<PersonalData>,
    /// Deny-lists of revoked access tokens.
    pub revocations: Revocations,
    /// Rate limits.
    pub limiter: RateLimiter,
    /// Short-lived shared state (lockout of unknown emails).
    pub ephemeral: Ephemeral,
    /// The configuration (limits, lifetimes, system roles).
    pub config: Config,
    /// Queues this process's writers to one busy aggregate (a conversation,
    /// a project charged for usage).
    pub write_locks: KeyedLocks,
    /// The project that owns a conversation, agent or conflict (from its
    /// stream's first event, which never changes).
    pub owners: BoundedCache<(&'static str, Uuid), Uuid>,
}

/// Aggregates with unbounded streams (conversations, projects charged for
/// usage) are snapshotted every this many events, so loading one replays at
/// most this many events whatever its length.
pub const SNAPSHOT_EVERY: usize = 100;

/// At most one announcement of appends (a `NOTIFY` waking the projectors)
/// per this interval, however many commands commit in it.
const ANNOUNCE_EVERY: std::time::Duration = std::time::Duration::from_millis(2);

/// What builds the command buses and stores: one store kind, sealing personal
/// data, over one pool, with every upcaster.
struct Stores {
    pool: PgPool,
    /// Loads go through tokio-postgres (no ping on release, unlike sqlx).
    reads: ReadPool,
    /// One writer of grouped appends for every aggregate type.
    group: GroupCommit,
    personal: Arc<PersonalData>,
    cached: usize,
    announce: AppendSignal,
}

impl Stores {
    fn store<A: Aggregate + Clone>(&self, snapshot_every: Option<usize>) -> Store<A> {
        Store::new(
            self.pool.clone(),
            self.reads.clone(),
            self.group.clone(),
            self.personal.clone(),
            self.announce.clone(),
            upcasting::upcasters(),
            StorePolicy {
                snapshot_every,
                cached: self.cached,
            },
        )
    }

    fn bus<A: Decide + Clone>(&self, snapshot_every: Option<usize>) -> CommandBus<A>
    where
        A::Command: Clone,
    {
        CommandBus::new(self.store(snapshot_every))
    }
}

impl CommandState {
    /// Builds the command side over `pool` (and `read_pool` for the keys of
    /// personal data), signing tokens with `signer` and loading (or
    /// creating) the master key.
    ///
    /// # Errors
    /// When the master key cannot be loaded.
    pub async fn build(
        config: &Config,
        pool: PgPool,
        read_pool: ReadPool,
        ephemeral: Ephemeral,
        signer: TokenSigner,
    ) -> Result<Arc<Self>> {
        let api_keys = Arc::new(ApiKeys::new(read_pool.clone(), ephemeral.clone()));
        let personal = Arc::new(PersonalData::load(config.master_key_text(), read_pool.clone()).await?);
        let stores = Stores {
            pool: pool.clone(),
            // A pool of its own: the shared read pool is busy with the
            // projectors' batches in `zekka up`. Connections open on demand.
            reads: zekka_event_store::database::read_pool(&config.database_url, config.pool_size)?,
            group: GroupCommit::spawn(pool.clone()),
            personal: personal.clone(),
            cached: config.aggregate_cache,
            announce: AppendSignal::spawn(config.database_url.clone(), ANNOUNCE_EVERY),
        };
        let reads = stores.reads.clone();
        let (projected_listener, projected) = zekka_event_store::wakeup::pending_listener();
        let state = Arc::new(Self {
            executions: stores.bus(None),
            tasks: stores.bus(None),
            sources: stores.bus(None),
            source_folders: stores.bus(None),
            blobs: Blobs::from_config(config)
                .context("cannot open the sources' store (SOURCES_URL or SOURCES_DIR)")?,
            projected,
            projected_listener: std::sync::Mutex::new(Some(projected_listener)),
            projects: stores.bus(Some(SNAPSHOT_EVERY)),
            users: stores.bus(None),
            sessions: stores.bus(None),
            conversations: stores.bus(Some(SNAPSHOT_EVERY)),
            preferences: stores.bus(None),
            pricing: stores.bus(None),
            projections: stores.bus(None),
            agents: stores.bus(None),
            conflicts: stores.bus(None),
            signer,
            personal,
            revocations: Revocations::new(ephemeral.clone(), read_pool.clone()),
            api_keys,
            locks: Arc::new(LockBus::new(&ephemeral)),
            model_client: crate::app::arbitration::ollama::http_client(config.ollama_ca_cert.as_deref())?,
            arbitrations: crate::app::arbitration::Running::default(),
            limiter: RateLimiter::new(ephemeral.clone()),
            ephemeral,
            config: config.clone(),
            write_locks: KeyedLocks::default(),
            owners: BoundedCache::new(config.aggregate_cache.saturating_mul(4)),
            reads,
            pool,
        });
        Ok(state)
    }

    /// A read connection for the store's look-ups.
    ///
    /// # Errors
    /// 503 when none can be had in time.
    pub async fn lookup_connection(&self) -> Result<deadpool_postgres::Object, crate::app::error::AppError> {
        Ok(self.reads.get().await?)
    }
}
