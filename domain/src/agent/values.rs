//! Validated values of the Agent aggregate: its statuses, task outcomes,
//! labels and details.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// What an agent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl AgentStatus {
    /// Every status.
    pub const ALL: [AgentStatus; 4] = [
        AgentStatus::Idle,
        AgentStatus::Working,
        AgentStatus::Blocked,
        AgentStatus::Offline,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Working => "working",
            AgentStatus::Blocked => "blocked",
            AgentStatus::Offline => "offline",
        }
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::named::named_by_as_str!(AgentStatus, TaskOutcome);

impl FromStr for AgentStatus {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "idle" => Ok(AgentStatus::Idle),
            "working" => Ok(AgentStatus::Working),
            "blocked" => Ok(AgentStatus::Blocked),
            "offline" => Ok(AgentStatus::Offline),
            _ => Err(FieldError::new(
                "status",
                "one of: idle, working, blocked, offline",
            )),
        }
    }
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    /// Done.
    Succeeded,
    /// Given up.
    Failed,
}

impl TaskOutcome {
    /// Every outcome.
    pub const ALL: [TaskOutcome; 2] = [TaskOutcome::Succeeded, TaskOutcome::Failed];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOutcome::Succeeded => "succeeded",
            TaskOutcome::Failed => "failed",
        }
    }
}

impl FromStr for TaskOutcome {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "succeeded" => Ok(TaskOutcome::Succeeded),
            "failed" => Ok(TaskOutcome::Failed),
            _ => Err(FieldError::new("outcome", "one of: succeeded, failed")),
        }
    }
}
