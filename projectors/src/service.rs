//! Running every projection of this build until shutdown.

use std::sync::Arc;

use anyhow::Result;
use zekka_event_store::database::ReadPool;
use zekka_event_store::personal_data::PersonalData;
use zekka_platform::Config;
use zekka_platform::shutdown::Shutdown;

use crate::engine::{Projector, ProjectorGroup};
use crate::projection::Projection;
use crate::projections;
use crate::rebuild;
use zekka_event_store::wakeup;

/// The projectors of one process.
pub struct ProjectorService {
    projectors: Vec<Projector>,
    config: Config,
}

impl ProjectorService {
    /// Projectors for every projection of this build, with checkpoints in place.
    ///
    /// # Errors
    /// When the database is unavailable or the blob store misconfigured.
    pub async fn build(config: &Config, pool: ReadPool) -> Result<Self> {
        let blobs = zekka_platform::blobs::Blobs::from_config(config)?;
        Self::with_projections(config, pool, projections::all(&blobs)).await
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
        let personal = Arc::new(PersonalData::load(config.master_key_text(), pool.clone()).await?);
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

    /// Runs every projector until `shutdown`; each finishes its current
    /// batch. Rebuilds requested through the API run here too.
    pub async fn run_until(self, shutdown: Shutdown) {
        let wakeup = wakeup::spawn_listener(self.config.database_url.clone(), shutdown.clone().signalled());
        let rebuilds = tokio::spawn(run_requested_rebuilds(
            self.projectors.clone(),
            self.config
                .projector_poll_interval
                .min(std::time::Duration::from_secs(1)),
            shutdown.clone(),
        ));
        // The live projections run in step, one transaction per batch for
        // all; one that falls behind or fails runs on its own meanwhile.
        ProjectorGroup::new(self.projectors)
            .run(
                wakeup,
                self.config.projector_poll_interval,
                self.config.projector_coalesce,
                shutdown,
            )
            .await;
        if let Err(error) = rebuilds.await {
            tracing::error!(%error, "the rebuild runner failed");
        }
    }
}

/// Watches for rebuilds requested through the API and runs each in a task
/// of its own (a process that loses the race for a rebuild's lease leaves
/// it to the winner). A rebuild in progress is abandoned at shutdown and
/// resumes when requested again.
async fn run_requested_rebuilds(
    projectors: Vec<Projector>,
    interval: std::time::Duration,
    mut shutdown: Shutdown,
) {
    let Some(pool) = projectors.first().map(|p| p.pool().clone()) else {
        return;
    };
    let mut running: Vec<(String, tokio::task::JoinHandle<()>)> = Vec::new();
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            () = tokio::time::sleep(interval) => {}
        }
        running.retain(|(_, task)| !task.is_finished());
        let requested = async {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            let rows = client
                .query(
                    "SELECT name FROM projection_rebuilds WHERE status = 'requested'",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()
        }
        .await;
        let requested = match requested {
            Ok(names) => names,
            Err(error) => {
                tracing::debug!(%error, "cannot look for requested rebuilds");
                continue;
            }
        };
        for name in requested {
            if running.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let Some(projector) = projectors.iter().find(|p| p.name() == name).cloned() else {
                continue;
            };
            let task = tokio::spawn(async move {
                match rebuild::rebuild(&projector, |_| {}).await {
                    Ok(report) => tracing::info!(
                        projection = report.name,
                        events = report.events,
                        seconds = report.seconds,
                        differences = report.differences.len(),
                        "rebuild completed"
                    ),
                    Err(rebuild::RebuildError::AlreadyRunning(_)) => {}
                    Err(error) => tracing::error!(projection = projector.name(), %error, "rebuild failed"),
                }
            });
            running.push((name, task));
        }
    }
}
