//! The read models, one module each. Each owns its `rm_*` tables.

pub mod agents;
pub mod conflicts;
pub mod conversations;
pub mod executions;
pub mod preferences;
pub mod pricing;
pub mod projects;
pub mod sources;
pub mod streams;
pub mod usage;
pub mod users;

use std::sync::Arc;

use crate::projection::{Projection, ProjectionError};

/// Every projection this build runs; `sources` reads text sources' bytes
/// from `blobs` for the search index.
pub fn all(blobs: &zekka_platform::blobs::Blobs) -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(users::UsersProjection),
        Arc::new(projects::ProjectsProjection),
        Arc::new(conversations::ConversationsProjection),
        Arc::new(preferences::PreferencesProjection),
        Arc::new(pricing::PricingProjection),
        Arc::new(agents::AgentsProjection),
        Arc::new(usage::UsageProjection::live()),
        Arc::new(conflicts::ConflictsProjection),
        Arc::new(streams::StreamsProjection),
        Arc::new(executions::ExecutionsProjection),
        Arc::new(sources::SourcesProjection::new(blobs.clone())),
    ]
}

/// Parses an aggregate id that must be a UUID.
fn uuid_of(aggregate_id: &str) -> Result<uuid::Uuid, ProjectionError> {
    uuid::Uuid::parse_str(aggregate_id).map_err(|_| ProjectionError::AggregateId(aggregate_id.to_owned()))
}

/// The event's payload as the aggregate's event type, read in place (no
/// copy of the JSON).
fn decode<'a, E: serde::Deserialize<'a>>(
    event: &'a zekka_event_store::event_log::StoredEvent,
) -> Result<E, ProjectionError> {
    Ok(E::deserialize(&event.payload)?)
}
