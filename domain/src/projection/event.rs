//! What operators did to a projection.

use super::*;

/// Something decided about a projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProjectionEvent {
    /// The projection passes over the event at `position`.
    ProjectionEventSkipped {
        /// The event's global position.
        position: i64,
        /// Its type.
        event_type: String,
        /// Why.
        reason: String,
        /// Who decided.
        skipped_by: String,
    },
}

impl DomainEvent for ProjectionEvent {
    fn event_type(&self) -> String {
        match self {
            ProjectionEvent::ProjectionEventSkipped { .. } => "ProjectionEventSkipped".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
