//! query-api as a service: built from the process's shared
//! infrastructure, it says what it serves ([`QueryService::apis`],
//! [`QueryService::socket`]) and what it runs in the background
//! ([`QueryService::tasks`]).

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, get};
use zekka_event_store::consistency::ConsistencyWaits;
use zekka_event_store::database::ReadPool;
use zekka_event_store::personal_data::PersonalData;
use zekka_event_store::wakeup::{self, PendingListener, Wakeup};
use zekka_platform::Config;
use zekka_platform::api_keys::ApiKeys;
use zekka_platform::locks::LockBus;
use zekka_platform::relay::Relay;
use zekka_platform::shutdown::Shutdown;
use zekka_platform::tasks::Task;

use crate::QueryState;
use crate::realtime::{Hub, realtime_socket};

/// The read side, built and ready to serve.
pub struct QueryService {
    state: Arc<QueryState>,
    hub: Arc<Hub>,
    /// The projectors' progress notifications, which the consistency waits
    /// and the hub share; listened to once the tasks run.
    progress: Wakeup,
    listener: Mutex<Option<PendingListener>>,
    keys: Arc<ApiKeys>,
    /// Typing indicators between processes.
    typing: Relay,
    /// Whether the keys are this service's own (it then writes their use).
    owns_keys: bool,
    database_url: String,
    /// The read replica, when reads go to one (`DATABASE_READ_URL`).
    replica: Option<ReadPool>,
}

impl QueryService {
    /// Builds the read side over `pool`, reading file locks from `locks`
    /// and verifying API keys with `keys` when the command side of the same
    /// process shares its own (which then writes their use), else with keys
    /// of its own over `ephemeral`.
    ///
    /// # Errors
    /// When the master key of personal data cannot be loaded.
    pub async fn build(
        config: &Config,
        pool: ReadPool,
        locks: Arc<LockBus>,
        shared_keys: Option<Arc<ApiKeys>>,
        ephemeral: &zekka_platform::ephemeral::Ephemeral,
    ) -> Result<Self> {
        let owns_keys = shared_keys.is_none();
        let keys = shared_keys.unwrap_or_else(|| Arc::new(ApiKeys::new(pool.clone(), ephemeral.clone())));
        let (listener, progress) = wakeup::pending_listener();
        let personal = Arc::new(PersonalData::load(config.master_key_text(), pool.clone()).await?);
        // Reads go to the replica when there is one; the waits then check
        // its replay, and everything that writes or follows the stream as
        // it is committed (keys' use, the hub) stays on the primary.
        let replica = match &config.database_read_url {
            Some(url) => Some(
                zekka_event_store::database::read_pool(url, config.pool_size)
                    .context("DATABASE_READ_URL is not a valid PostgreSQL URL")?,
            ),
            None => None,
        };
        let waits = match &replica {
            Some(replica) => {
                ConsistencyWaits::new(replica.clone(), progress.clone(), config.consistency_wait)
                    .on_replica_of(pool.clone())
            }
            None => ConsistencyWaits::new(pool.clone(), progress.clone(), config.consistency_wait),
        };
        let state = Arc::new(QueryState {
            pool: replica.clone().unwrap_or_else(|| pool.clone()),
            waits,
            personal: personal.clone(),
            locks,
            blobs: zekka_platform::blobs::Blobs::from_config(config)
                .context("cannot open the sources' store (SOURCES_URL or SOURCES_DIR)")?,
            search_candidates: config.search_candidates,
        });
        let typing = Relay::new(ephemeral, "typing");
        let hub = Hub::new(pool, personal, config.realtime_queue, typing.clone());
        Ok(Self {
            state,
            hub,
            progress,
            listener: Mutex::new(Some(listener)),
            keys,
            typing,
            owns_keys,
            database_url: config.database_url.clone(),
            replica,
        })
    }

    /// Every query route.
    pub fn apis(&self) -> crate::Apis {
        crate::apis(self.state.clone())
    }

    /// `GET /api/v1/ws`.
    pub fn socket(&self) -> BoxEndpoint<'static> {
        get(realtime_socket).data(self.hub.clone()).boxed()
    }

    /// The read replica its reads go to, when there is one.
    pub fn replica(&self) -> Option<&ReadPool> {
        self.replica.as_ref()
    }

    /// The API keys it verifies.
    pub fn keys(&self) -> &Arc<ApiKeys> {
        &self.keys
    }

    /// Forwards the typing relay from Redis; a failure to reach it is
    /// logged (typing indicators then stay within each process).
    async fn relay(typing: Relay, shutdown: Shutdown) {
        if let Err(error) = typing.run(shutdown).await {
            tracing::warn!(error = %format!("{error:#}"), "typing indicators are not relayed between processes");
        }
    }

    /// What it runs besides serving, until `shutdown`: the listener of the
    /// projectors' progress, the real-time hub, and, for keys of its own,
    /// the writer of their last use. The listener runs once: a second call
    /// leaves it out.
    pub fn tasks(&self, shutdown: &Shutdown) -> Vec<Task> {
        let mut tasks = Vec::new();
        if let Some(listener) = self.listener.lock().ok().and_then(|mut l| l.take()) {
            tasks.push(Task::new(
                "projection progress listener",
                listener.run(
                    self.database_url.clone(),
                    wakeup::PROJECTED_CHANNEL,
                    shutdown.clone().signalled(),
                ),
            ));
        }
        tasks.push(Task::new(
            "real-time hub",
            self.hub.clone().run(self.progress.clone(), shutdown.clone()),
        ));
        tasks.push(Task::new(
            "typing relay",
            Self::relay(self.typing.clone(), shutdown.clone()),
        ));
        tasks.push(Task::new(
            "typing indicators",
            self.hub.clone().relay_typing(shutdown.clone()),
        ));
        if let Some(replica) = &self.replica {
            tasks.push(Task::new(
                "read replica lag sampler",
                crate::replica::sample_lag(replica.clone(), shutdown.clone()),
            ));
        }
        if self.owns_keys {
            tasks.push(Task::new(
                "API-key use writer",
                zekka_platform::api_keys::write_use_until(self.keys.clone(), shutdown.clone()),
            ));
        }
        tasks
    }
}
