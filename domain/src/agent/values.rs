//! Validated values of the Agent aggregate: its statuses, task outcomes,
//! labels and details.

use serde::{Deserialize, Serialize};

/// What an agent is doing.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AgentStatus {
    /// Waiting for work.
    #[default]
    Idle,
    /// Working on a task.
    Working,
    /// Stuck, waiting on something.
    Blocked,
    /// Not running.
    Offline,
}

crate::named::named!(AgentStatus => "status", TaskOutcome => "outcome");

/// How a task ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TaskOutcome {
    /// Done.
    Succeeded,
    /// Given up.
    Failed,
}
