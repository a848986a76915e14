//! The command side's shared state.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, CqrsFramework, EventEnvelope, Query};
use sqlx::PgPool;
use zekka_domain::agent::Agent;
use zekka_domain::conflict::Conflict;
use zekka_domain::conversation::Conversation;
use zekka_domain::preferences::Preferences;
use zekka_domain::pricing::ModelPrice;
use zekka_domain::project::Project;
use zekka_domain::session::Session;
use zekka_domain::upcasting;
use zekka_domain::user::User;
use zekka_platform::Config;

use crate::event_store::{Cqrs, SealingRepository, Store};
use crate::keyed_lock::KeyedLocks;
use zekka_platform::database::ReadPool;
use zekka_platform::ephemeral::Ephemeral;
use zekka_platform::metrics::METRICS;
use zekka_platform::personal_data::PersonalData;
use zekka_platform::rate_limit::RateLimiter;
use zekka_platform::revocation::Revocations;
use zekka_platform::tokens::{self, TokenSigner};

/// What every command handler shares.
pub struct CommandState {
    /// The write pool, shared with `postgres-es`.
    pub pool: PgPool,
    /// The Project aggregate's framework, with snapshots: usage records make
    /// a project's stream grow without bound.
    pub projects: Cqrs<Project>,
    /// The User aggregate's framework.
    pub users: Cqrs<User>,
    /// The Session aggregate's framework.
    pub sessions: Cqrs<Session>,
    /// The Conversation aggregate's framework, with snapshots: a
    /// conversation's stream grows without bound, its load must not.
    pub conversations: Cqrs<Conversation>,
    /// The Preferences aggregate's framework.
    pub preferences: Cqrs<Preferences>,
    /// Loads projects to check the actor's role for other aggregates.
    pub project_store: Store<Project>,
    /// The Conflict aggregate's framework.
    pub conflicts: Cqrs<Conflict>,
    /// The Agent aggregate's framework.
    pub agents: Cqrs<Agent>,
    /// The ModelPrice aggregate's framework.
    pub pricing: Cqrs<ModelPrice>,
    /// Loads price histories (to seed defaults, and to price usage).
    pub pricing_store: Store<ModelPrice>,
    /// Loads preferences for export.
    pub preferences_store: Store<Preferences>,
    /// Loads users for sign-in (the framework's own store is private).
    pub user_store: Store<User>,
    /// Loads sessions for refresh.
    pub session_store: Store<Session>,
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

/// What builds the frameworks and stores: one repository kind, sealing
/// personal data, over one pool, with every upcaster.
struct Stores {
    pool: PgPool,
    personal: Arc<PersonalData>,
}

impl Stores {
    fn repository(&self) -> SealingRepository {
        SealingRepository::new(self.pool.clone(), self.personal.clone())
    }

    fn store<A: Aggregate>(&self) -> Store<A> {
        PersistedEventStore::new_event_store(self.repository()).with_upcasters(upcasting::upcasters())
    }

    fn snapshot_store<A: Aggregate>(&self) -> Store<A> {
        PersistedEventStore::new_snapshot_store(self.repository(), SNAPSHOT_EVERY)
            .with_upcasters(upcasting::upcasters())
    }

    fn framework<A: Aggregate<Services = ()> + 'static>(&self) -> Cqrs<A> {
        CqrsFramework::new(self.store(), vec![Box::new(AppendMetrics)], ())
    }

    fn snapshot_framework<A: Aggregate<Services = ()> + 'static>(&self) -> Cqrs<A> {
        CqrsFramework::new(self.snapshot_store(), vec![Box::new(AppendMetrics)], ())
    }
}

impl CommandState {
    /// Builds the command side over `pool` (and `read_pool` for the keys of
    /// personal data), loading (or creating) the signing and master keys.
    ///
    /// # Errors
    /// When the signing key cannot be loaded.
    pub async fn build(
        config: &Config,
        pool: PgPool,
        read_pool: ReadPool,
        ephemeral: Ephemeral,
    ) -> Result<Arc<Self>> {
        let signer = tokens::load_signer(config, &pool).await?;
        let personal = Arc::new(PersonalData::load(config, read_pool).await?);
        let stores = Stores {
            pool: pool.clone(),
            personal: personal.clone(),
        };
        let state = Arc::new(Self {
            projects: stores.snapshot_framework(),
            users: stores.framework(),
            sessions: stores.framework(),
            conversations: stores.snapshot_framework(),
            preferences: stores.framework(),
            pricing: stores.framework(),
            agents: stores.framework(),
            conflicts: stores.framework(),
            pricing_store: stores.store(),
            project_store: stores.snapshot_store(),
            preferences_store: stores.store(),
            user_store: stores.store(),
            session_store: stores.store(),
            signer,
            personal,
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
