//! command-api as a service: built from the process's shared
//! infrastructure, it says what it serves ([`CommandService::apis`]) and
//! what it runs in the background ([`CommandService::tasks`]), so the
//! `zekka` binary composes services without knowing their insides.

use std::sync::Arc;

use anyhow::Result;
use sqlx::PgPool;
use zekka_event_store::database::ReadPool;
use zekka_platform::Config;
use zekka_platform::ephemeral::Ephemeral;
use zekka_platform::shutdown::Shutdown;
use zekka_platform::tasks::Task;
use zekka_platform::tokens::TokenSigner;

use crate::app::mailer::Delivery;
use crate::app::state::CommandState;

/// The write side, built and ready to serve.
pub struct CommandService {
    state: Arc<CommandState>,
    read_pool: ReadPool,
    signer: TokenSigner,
}

impl CommandService {
    /// Builds the command side over the write pool `pool` and the read pool
    /// `read_pool`, signing tokens with `signer`.
    ///
    /// # Errors
    /// When the master key or the default prices cannot be loaded, or the
    /// mail settings are malformed.
    pub async fn build(
        config: &Config,
        pool: PgPool,
        read_pool: ReadPool,
        ephemeral: Ephemeral,
        signer: TokenSigner,
    ) -> Result<Self> {
        // Checked at start-up: a malformed SMTP_URL stops the process here.
        Delivery::from_config(config)?;
        let state = CommandState::build(config, pool, read_pool.clone(), ephemeral, signer.clone()).await?;
        crate::app::prices::seed_default_prices(&state).await?;
        Ok(Self {
            state,
            read_pool,
            signer,
        })
    }

    /// The shared state (for operator commands and tests).
    pub fn state(&self) -> &Arc<CommandState> {
        &self.state
    }

    /// Every command route.
    pub fn apis(&self) -> crate::Apis {
        crate::apis(self.state.clone())
    }

    /// What it runs besides serving, until `shutdown`: the mail outbox, the
    /// retention sweeper (mail, idempotency answers, webhook messages), the audit checkpointer, the orchestrator
    /// (with its lease sweeper), the webhook outbox and deliverer, the listener for read-model progress that
    /// wakes agents' long polls, and the writer of API keys' last use.
    ///
    /// # Errors
    /// When the mail settings are malformed (checked at build already).
    pub fn tasks(&self, shutdown: &Shutdown) -> Result<Vec<Task>> {
        let config = &self.state.config;
        let mut tasks = Vec::new();
        // Appends wake the followers of the stream (orchestrator, outbox);
        // the outbox wakes the deliverer.
        let appended = zekka_event_store::wakeup::spawn_listener(
            config.database_url.clone(),
            shutdown.clone().signalled(),
        );
        let queued = Arc::new(tokio::sync::Notify::new());
        let projected = self
            .state
            .projected_listener
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        if let Some(listener) = projected {
            let (url, stop) = (config.database_url.clone(), shutdown.clone().signalled());
            tasks.push(Task::new("projection-progress listener", async move {
                listener
                    .run(url, zekka_event_store::wakeup::PROJECTED_CHANNEL, stop)
                    .await;
            }));
        }
        tasks.extend([
            Task::new(
                "mailer",
                crate::app::mailer::run(
                    self.state.pool.clone(),
                    Delivery::from_config(config)?,
                    config.mail_poll_interval,
                    shutdown.clone(),
                ),
            ),
            Task::new(
                "audit verifications",
                crate::app::verifications::run(self.state.clone(), shutdown.clone()),
            ),
            Task::new(
                "retention sweeper",
                crate::app::retention::run(self.read_pool.clone(), shutdown.clone()),
            ),
            Task::new(
                "source blob sweeper",
                crate::app::sources::sweeper::run(
                    self.read_pool.clone(),
                    self.state.blobs.clone(),
                    shutdown.clone(),
                ),
            ),
            Task::new(
                "audit checkpointer",
                crate::app::checkpointer::run(
                    self.read_pool.clone(),
                    self.signer.clone(),
                    config.audit_checkpoint_interval,
                    shutdown.clone(),
                ),
            ),
            Task::new(
                "orchestrator",
                crate::app::orchestrator::process::run(
                    self.state.clone(),
                    appended.clone(),
                    shutdown.clone(),
                ),
            ),
            Task::new(
                "webhook outbox",
                crate::app::webhooks::outbox::run(
                    self.state.clone(),
                    appended,
                    queued.clone(),
                    shutdown.clone(),
                ),
            ),
            Task::new(
                "webhook deliveries",
                crate::app::webhooks::delivery::run(self.state.clone(), queued, shutdown.clone()),
            ),
            Task::new(
                "API-key use writer",
                zekka_platform::api_keys::write_use_until(self.state.api_keys.clone(), shutdown.clone()),
            ),
        ]);
        Ok(tasks)
    }
}
