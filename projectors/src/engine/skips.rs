//! The events operators told a projection to pass over (`zekka projections
//! skip`), read from its `Projection` stream and kept for a moment.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zekka_event_store::lookups::streams;

use super::{Projector, ProjectorError};

/// How long the skipped positions read from the event store are trusted
/// before they are read again (a failing batch reads them at once).
const SKIPS_FRESH: Duration = Duration::from_secs(2);

/// The events operators decided this projection passes over
/// (`ProjectionEventSkipped` in the `Projection` stream of its name), as
/// last read.
#[derive(Default)]
pub(super) struct Skips {
    positions: Arc<BTreeSet<i64>>,
    read_at: Option<Instant>,
}

/// The events skipped in projection `name` by operators, by global
/// position: its `Projection` stream's state.
///
/// # Errors
/// When the database fails or a stored event is not a projection event.
pub async fn skipped_events(
    client: &impl tokio_postgres::GenericClient,
    name: &str,
) -> Result<std::collections::BTreeMap<i64, zekka_domain::projection::Skip>, ProjectorError> {
    let events = streams::events_of::<zekka_domain::projection::Projection>(client, name)
        .await
        .map_err(|source| ProjectorError::Skips { source })?;
    let mut state = zekka_domain::projection::Projection::default();
    for event in events {
        cqrs_es::Aggregate::apply(&mut state, event);
    }
    Ok(state.skipped)
}

impl Projector {
    /// The positions of the events this projection passes over, read again
    /// from the event store when older than [`SKIPS_FRESH`].
    pub(super) async fn skips(
        &self,
        client: &impl tokio_postgres::GenericClient,
    ) -> Result<Arc<BTreeSet<i64>>, ProjectorError> {
        if let Ok(skips) = self.skips.lock()
            && skips.read_at.is_some_and(|at| at.elapsed() < SKIPS_FRESH)
        {
            return Ok(skips.positions.clone());
        }
        let positions: Arc<BTreeSet<i64>> =
            Arc::new(skipped_events(client, self.name()).await?.into_keys().collect());
        if let Ok(mut skips) = self.skips.lock() {
            *skips = Skips {
                positions: positions.clone(),
                read_at: Some(Instant::now()),
            };
        }
        Ok(positions)
    }

    /// Forgets the skipped positions read, so the next batch reads them again.
    pub(super) fn forget_skips(&self) {
        if let Ok(mut skips) = self.skips.lock() {
            skips.read_at = None;
        }
    }
}
