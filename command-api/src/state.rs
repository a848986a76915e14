//! The command side's shared state.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, EventEnvelope, Query};
use postgres_es::{PostgresCqrs, PostgresEventRepository, postgres_cqrs};
use sqlx::PgPool;
use zekka_domain::project::Project;
use zekka_domain::user::User;
use zekka_platform::Config;
use zekka_platform::metrics::METRICS;
use zekka_platform::tokens::{self, TokenSigner};

/// What every command handler shares.
pub struct CommandState {
    /// The write pool, shared with `postgres-es`.
    pub pool: PgPool,
    /// The Project aggregate's framework.
    pub projects: PostgresCqrs<Project>,
    /// The User aggregate's framework.
    pub users: PostgresCqrs<User>,
    /// Loads users for sign-in (the framework's own store is private).
    pub user_store: PersistedEventStore<PostgresEventRepository, User>,
    /// Signs access tokens.
    pub signer: TokenSigner,
}

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

impl CommandState {
    /// Builds the command side over `pool`, loading (or creating) the signing key.
    ///
    /// # Errors
    /// When the signing key cannot be loaded.
    pub async fn build(config: &Config, pool: PgPool) -> Result<Arc<Self>> {
        let signer = tokens::load_signer(config, &pool).await?;
        Ok(Arc::new(Self {
            projects: postgres_cqrs(pool.clone(), vec![Box::new(AppendMetrics)], ()),
            users: postgres_cqrs(pool.clone(), vec![Box::new(AppendMetrics)], ()),
            user_store: PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone())),
            signer,
            pool,
        }))
    }
}
