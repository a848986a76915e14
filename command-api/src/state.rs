//! The command side's shared state.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, EventEnvelope, Query};
use postgres_es::{PostgresCqrs, PostgresEventRepository, postgres_cqrs, postgres_snapshot_cqrs};
use sqlx::PgPool;
use zekka_domain::agent::Agent;
use zekka_domain::conflict::Conflict;
use zekka_domain::conversation::Conversation;
use zekka_domain::preferences::Preferences;
use zekka_domain::pricing::ModelPrice;
use zekka_domain::project::Project;
use zekka_domain::session::Session;
use zekka_domain::user::User;
use zekka_platform::Config;

use crate::keyed_lock::KeyedLocks;
use zekka_platform::ephemeral::Ephemeral;
use zekka_platform::metrics::METRICS;
use zekka_platform::rate_limit::RateLimiter;
use zekka_platform::revocation::Revocations;
use zekka_platform::tokens::{self, TokenSigner};

/// What every command handler shares.
pub struct CommandState {
    /// The write pool, shared with `postgres-es`.
    pub pool: PgPool,
    /// The Project aggregate's framework, with snapshots: usage records make
    /// a project's stream grow without bound.
    pub projects: PostgresCqrs<Project>,
    /// The User aggregate's framework.
    pub users: PostgresCqrs<User>,
    /// The Session aggregate's framework.
    pub sessions: PostgresCqrs<Session>,
    /// The Conversation aggregate's framework, with snapshots: a
    /// conversation's stream grows without bound, its load must not.
    pub conversations: PostgresCqrs<Conversation>,
    /// The Preferences aggregate's framework.
    pub preferences: PostgresCqrs<Preferences>,
    /// Loads projects to check the actor's role for other aggregates.
    pub project_store: PersistedEventStore<PostgresEventRepository, Project>,
    /// The Conflict aggregate's framework.
    pub conflicts: PostgresCqrs<Conflict>,
    /// The Agent aggregate's framework.
    pub agents: PostgresCqrs<Agent>,
    /// The ModelPrice aggregate's framework.
    pub pricing: PostgresCqrs<ModelPrice>,
    /// Loads price histories (to seed defaults, and to price usage).
    pub pricing_store: PersistedEventStore<PostgresEventRepository, ModelPrice>,
    /// Loads preferences for export.
    pub preferences_store: PersistedEventStore<PostgresEventRepository, Preferences>,
    /// Loads users for sign-in (the framework's own store is private).
    pub user_store: PersistedEventStore<PostgresEventRepository, User>,
    /// Loads sessions for refresh.
    pub session_store: PersistedEventStore<PostgresEventRepository, Session>,
    /// Signs access tokens.
    pub signer: TokenSigner,
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
}

/// Aggregates with unbounded streams (conversations, projects charged for
/// usage) are snapshotted every this many events, so loading one replays at
/// most this many events whatever its length.
pub const SNAPSHOT_EVERY: usize = 100;

/// Counts appended events. Runs in-process after commit; it feeds a metric
/// only, never a read model (those come from the checkpointed projectors).
struct AppendMetrics;

#[async_trait]
impl<A: Aggregate> Query<A> for AppendMetrics {
    async fn dispatch(&self, _aggregate_id: &str, events: &[EventEnvelope<A>]) {
        METRICS
            .events_appended
            .with_label_values(&[A::TYPE])
            .inc_by(u64::try_from(events.len()).unwrap_or(0));
    }
}

fn framework<A: Aggregate<Services = ()> + 'static>(pool: &PgPool) -> PostgresCqrs<A> {
    postgres_cqrs(pool.clone(), vec![Box::new(AppendMetrics)], ())
}

fn store<A: Aggregate>(pool: &PgPool) -> PersistedEventStore<PostgresEventRepository, A> {
    PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()))
}

impl CommandState {
    /// Builds the command side over `pool`, loading (or creating) the signing key.
    ///
    /// # Errors
    /// When the signing key cannot be loaded.
    pub async fn build(config: &Config, pool: PgPool, ephemeral: Ephemeral) -> Result<Arc<Self>> {
        let signer = tokens::load_signer(config, &pool).await?;
        let state = Arc::new(Self {
            projects: postgres_snapshot_cqrs(pool.clone(), vec![Box::new(AppendMetrics)], SNAPSHOT_EVERY, ()),
            users: framework(&pool),
            sessions: framework(&pool),
            conversations: postgres_snapshot_cqrs(
                pool.clone(),
                vec![Box::new(AppendMetrics)],
                SNAPSHOT_EVERY,
                (),
            ),
            preferences: framework(&pool),
            pricing: framework(&pool),
            agents: framework(&pool),
            conflicts: framework(&pool),
            pricing_store: store(&pool),
            project_store: PersistedEventStore::new_snapshot_store(
                PostgresEventRepository::new(pool.clone()),
                SNAPSHOT_EVERY,
            ),
            preferences_store: store(&pool),
            user_store: store(&pool),
            session_store: store(&pool),
            signer,
            revocations: Revocations::new(ephemeral.clone()),
            limiter: RateLimiter::new(ephemeral.clone()),
            ephemeral,
            config: config.clone(),
            write_locks: KeyedLocks::default(),
            pool,
        });
        state.seed_default_prices().await?;
        Ok(state)
    }
}
