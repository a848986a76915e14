//! The Agent aggregate: an AI agent working in a project — its status and
//! the tasks it takes on. Its state keeps only open tasks, so it stays small
//! however long the agent works.
//!
//! Token usage is recorded against the project's budget (issue 5), not here.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ErrorKind, FieldError, Refusal};
use crate::pricing::ModelName;
use crate::project::Stage;
use crate::shared::access::{AccessRefusal, ProjectAccess};
use crate::shared::text::PlainText;

mod file_path;
pub use file_path::FilePath;

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

/// An agent's name, kind (`developer`, `reviewer`, …), a task's title: validated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    /// The longest label accepted, in characters.
    pub const MAX_CHARS: usize = 100;
    /// The longest task title accepted, in characters.
    pub const TITLE_MAX_CHARS: usize = 200;

    /// Validates `raw` as the field `field` (1 to 100 characters).
    ///
    /// # Errors
    /// When it is blank, too long or holds control characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        PlainText::line(field, raw, Self::MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// Validates a task title (1 to 200 characters).
    ///
    /// # Errors
    /// As [`Label::parse`].
    pub fn title(raw: &str) -> Result<Self, FieldError> {
        PlainText::line("title", raw, Self::TITLE_MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text of up to 10,000 characters (descriptions, status details).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Detail(String);

impl Detail {
    /// The longest detail accepted, in characters.
    pub const MAX_CHARS: usize = 10_000;

    /// Validates `raw` as the field `field`.
    ///
    /// # Errors
    /// When it is longer than 10,000 characters or holds control
    /// characters other than tabs and line breaks.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        PlainText::parse(field, raw, Self::MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Something asked of an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    /// Register a new agent in a project.
    Register {
        /// The id chosen for it (UUIDv7).
        agent_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its name.
        name: Label,
        /// What kind of agent it is (`developer`, `architect`, …).
        kind: Label,
        /// The workflow stage it works on, if any.
        stage: Option<Stage>,
        /// Its default model.
        model: ModelName,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Report a new status.
    ChangeStatus {
        /// The status.
        status: AgentStatus,
        /// Why, for people.
        detail: Detail,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Give the agent a task.
    AssignTask {
        /// The id chosen for it (UUIDv7).
        task_id: Uuid,
        /// What to do.
        title: Label,
        /// More about it.
        description: Detail,
        /// The stage it belongs to, if any.
        stage: Option<Stage>,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Close one of the agent's open tasks.
    CompleteTask {
        /// The task.
        task_id: Uuid,
        /// How it ended.
        outcome: TaskOutcome,
        /// Notes.
        detail: Detail,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Record that the agent took a file lock on the context bus (the bus
    /// granted it; the record is for auditors and for fencing after a
    /// Redis restart).
    RecordLockAcquired {
        /// The lock.
        lock_id: Uuid,
        /// The file.
        file_path: String,
        /// Its fencing token.
        fencing_token: i64,
        /// When it lapses unless released.
        expires_at: chrono::DateTime<chrono::Utc>,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Record that the agent's lock was released.
    RecordLockReleased {
        /// The lock.
        lock_id: Uuid,
        /// The file.
        file_path: String,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
}

/// Something that happened to an agent. A persisted contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgentEvent {
    /// An agent joined a project.
    AgentRegistered {
        /// Its id.
        agent_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its name.
        name: String,
        /// Its kind.
        kind: String,
        /// Its stage, if any.
        stage: Option<Stage>,
        /// Its default model.
        model: String,
    },
    /// Its status changed.
    AgentStatusChanged {
        /// The status before.
        from: AgentStatus,
        /// The status now.
        to: AgentStatus,
        /// Why.
        detail: String,
    },
    /// It was given a task.
    TaskAssigned {
        /// The task's id.
        task_id: Uuid,
        /// What to do.
        title: String,
        /// More about it.
        description: String,
        /// The stage, if any.
        stage: Option<Stage>,
    },
    /// It closed a task.
    TaskCompleted {
        /// The task.
        task_id: Uuid,
        /// How it ended.
        outcome: TaskOutcome,
        /// Notes.
        detail: String,
    },
    /// It took a file lock on the context bus.
    FileLockAcquired {
        /// The lock.
        lock_id: Uuid,
        /// The project the file belongs to.
        project_id: Uuid,
        /// The file.
        file_path: String,
        /// Its fencing token: larger than every earlier one of the path.
        fencing_token: i64,
        /// When it lapses unless released.
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// It released a file lock.
    FileLockReleased {
        /// The lock.
        lock_id: Uuid,
        /// The file.
        file_path: String,
    },
}

impl DomainEvent for AgentEvent {
    fn event_type(&self) -> String {
        match self {
            AgentEvent::AgentRegistered { .. } => "AgentRegistered",
            AgentEvent::AgentStatusChanged { .. } => "AgentStatusChanged",
            AgentEvent::TaskAssigned { .. } => "TaskAssigned",
            AgentEvent::TaskCompleted { .. } => "TaskCompleted",
            AgentEvent::FileLockAcquired { .. } => "FileLockAcquired",
            AgentEvent::FileLockReleased { .. } => "FileLockReleased",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why an agent refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentError {
    /// A value is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The agent id is taken.
    #[error("an agent with this id already exists")]
    AlreadyExists,
    /// No such agent, or the actor is not in its project.
    #[error("agent not found")]
    NotFound,
    /// The actor may only read.
    #[error("viewers cannot direct agents")]
    NotAllowed,
    /// The project is archived.
    #[error("the project is archived")]
    ProjectArchived,
    /// The task is not one of the agent's open tasks.
    #[error("the agent has no open task with this id")]
    TaskNotOpen,
}

impl Refusal for AgentError {
    fn kind(&self) -> ErrorKind {
        match self {
            AgentError::Invalid(_) => ErrorKind::Invalid,
            AgentError::NotFound | AgentError::TaskNotOpen => ErrorKind::NotFound,
            AgentError::NotAllowed => ErrorKind::Forbidden,
            AgentError::AlreadyExists | AgentError::ProjectArchived => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            AgentError::Invalid(e) => vec![e.clone()],
            _ => vec![],
        }
    }
}

/// What an agent's decisions need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Set by `AgentRegistered`.
    pub id: Option<Uuid>,
    /// Its project.
    pub project_id: Option<Uuid>,
    /// Its status.
    pub status: AgentStatus,
    /// Its open tasks.
    pub open_tasks: BTreeSet<Uuid>,
}

/// The shared writer rule ([`ProjectAccess::require_writer`]), refused in
/// this aggregate's words.
fn require_writer(access: ProjectAccess) -> Result<(), AgentError> {
    access.require_writer().map(|_| ()).map_err(AgentError::from)
}

impl From<AccessRefusal> for AgentError {
    fn from(refusal: AccessRefusal) -> Self {
        match refusal {
            AccessRefusal::NotMember => AgentError::NotFound,
            AccessRefusal::Viewer => AgentError::NotAllowed,
            AccessRefusal::Archived => AgentError::ProjectArchived,
        }
    }
}

impl Aggregate for Agent {
    const TYPE: &'static str = "Agent";
    type Command = AgentCommand;
    type Event = AgentEvent;
    type Error = AgentError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            AgentEvent::AgentRegistered {
                agent_id, project_id, ..
            } => {
                self.id = Some(agent_id);
                self.project_id = Some(project_id);
            }
            AgentEvent::AgentStatusChanged { to, .. } => self.status = to,
            AgentEvent::TaskAssigned { task_id, .. } => {
                self.open_tasks.insert(task_id);
            }
            AgentEvent::TaskCompleted { task_id, .. } => {
                self.open_tasks.remove(&task_id);
            }
            AgentEvent::FileLockAcquired { .. } | AgentEvent::FileLockReleased { .. } => {}
        }
    }
}

impl Agent {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`AgentError`] naming the rule the command breaks.
    pub fn decide(&self, command: AgentCommand) -> Result<Vec<AgentEvent>, AgentError> {
        if self.id.is_none() && !matches!(command, AgentCommand::Register { .. }) {
            return Err(AgentError::NotFound);
        }
        match command {
            AgentCommand::Register {
                agent_id,
                project_id,
                name,
                kind,
                stage,
                model,
                access,
            } => {
                if self.id.is_some() {
                    return Err(AgentError::AlreadyExists);
                }
                require_writer(access)?;
                Ok(vec![AgentEvent::AgentRegistered {
                    agent_id,
                    project_id,
                    name: name.as_str().to_owned(),
                    kind: kind.as_str().to_owned(),
                    stage,
                    model: model.as_str().to_owned(),
                }])
            }
            AgentCommand::ChangeStatus {
                status,
                detail,
                access,
            } => {
                require_writer(access)?;
                Ok(vec![AgentEvent::AgentStatusChanged {
                    from: self.status,
                    to: status,
                    detail: detail.as_str().to_owned(),
                }])
            }
            AgentCommand::AssignTask {
                task_id,
                title,
                description,
                stage,
                access,
            } => {
                require_writer(access)?;
                Ok(vec![AgentEvent::TaskAssigned {
                    task_id,
                    title: title.as_str().to_owned(),
                    description: description.as_str().to_owned(),
                    stage,
                }])
            }
            AgentCommand::CompleteTask {
                task_id,
                outcome,
                detail,
                access,
            } => {
                require_writer(access)?;
                if !self.open_tasks.contains(&task_id) {
                    return Err(AgentError::TaskNotOpen);
                }
                Ok(vec![AgentEvent::TaskCompleted {
                    task_id,
                    outcome,
                    detail: detail.as_str().to_owned(),
                }])
            }
            AgentCommand::RecordLockAcquired {
                lock_id,
                file_path,
                fencing_token,
                expires_at,
                access,
            } => {
                require_writer(access)?;
                Ok(vec![AgentEvent::FileLockAcquired {
                    lock_id,
                    project_id: self.project_id.unwrap_or_default(),
                    file_path,
                    fencing_token,
                    expires_at,
                }])
            }
            AgentCommand::RecordLockReleased {
                lock_id,
                file_path,
                access,
            } => {
                require_writer(access)?;
                Ok(vec![AgentEvent::FileLockReleased { lock_id, file_path }])
            }
        }
    }
}

#[cfg(test)]
mod tests;
