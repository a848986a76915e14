//! What an operator may ask of a projection.

use super::*;

/// Something an operator asks of a projection.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectionCommand {
    /// Pass over the event at `position` from now on, in the live model and
    /// in every rebuild.
    SkipEvent {
        /// The event's global position.
        position: i64,
        /// Its type, as stored (for the record).
        event_type: String,
        /// Why.
        reason: SkipReason,
        /// Who decided: `user:<id>` through the API, `cli:<name>` from `zekka`.
        skipped_by: String,
    },
}
