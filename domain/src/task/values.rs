//! Values of the Task aggregate.

use serde::{Deserialize, Serialize};

/// Where an orchestrated task stands.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its agent to claim it.
    #[default]
    Open,
    /// Claimed, under a lease the agent keeps alive by heartbeats.
    Claimed,
    /// Done.
    Succeeded,
    /// Given up (by the agent, or after too many lapsed leases).
    Failed,
    /// Its run was cancelled.
    Cancelled,
}

crate::named::named!(TaskState => "state");

impl TaskState {
    /// Whether nothing more happens to it (until a retry reopens a failed one).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled
        )
    }
}

/// How many lapsed leases fail a task.
pub const MAX_LAPSES: u32 = 3;
