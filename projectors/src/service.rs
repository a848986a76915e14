//! Running every projection of this build until shutdown.

use std::sync::Arc;

use anyhow::Result;
use zekka_platform::Config;
use zekka_platform::database::ReadPool;
use zekka_platform::personal_data::PersonalData;
use zekka_platform::shutdown::Shutdown;

use crate::engine::Projector;
use crate::projection::Projection;
use crate::projections;
use crate::wakeup;

/// The projectors of one process.
pub struct ProjectorService {
    projectors: Vec<Projector>,
    config: Config,
}

impl ProjectorService {
    /// Projectors for every projection of this build, with checkpoints in place.
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn build(config: &Config, pool: ReadPool) -> Result<Self> {
        Self::with_projections(config, pool, projections::all()).await
    }

    /// Projectors for the given projections (tests add their own).
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn with_projections(
        config: &Config,
        pool: ReadPool,
        projections: Vec<Arc<dyn Projection>>,
    ) -> Result<Self> {
        let personal = Arc::new(PersonalData::load(config, pool.clone()).await?);
        let projectors: Vec<Projector> = projections
            .into_iter()
            .map(|p| Projector::new(p, pool.clone(), personal.clone(), config.projector_batch_size))
            .collect();
        for projector in &projectors {
            projector.ensure_checkpoint().await?;
        }
        Ok(Self {
            projectors,
            config: config.clone(),
        })
    }

    /// The projectors, by name.
    pub fn projectors(&self) -> &[Projector] {
        &self.projectors
    }

    /// Runs every projector until `shutdown`; each finishes its current batch.
    pub async fn run_until(self, shutdown: Shutdown) {
        let wakeup = wakeup::spawn_listener(self.config.database_url.clone(), shutdown.clone());
        let tasks: Vec<_> = self
            .projectors
            .into_iter()
            .map(|projector| {
                tokio::spawn(projector.run(
                    wakeup.clone(),
                    self.config.projector_poll_interval,
                    shutdown.clone(),
                ))
            })
            .collect();
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "a projector task failed");
            }
        }
    }
}
