//! The Agent aggregate: an AI agent working in a project — its status and
//! the tasks it takes on. Its state keeps only open tasks, so it stays small
//! however long the agent works.
//!
//! Token usage is recorded against the project's budget (issue 5), not here.
//!
//! # Layout
//! - `values`: statuses, task outcomes, labels, details; `file_path`: the
//!   normal form of a locked file's path.
//! - `command`, `event`, `error`: what may be asked, what happened, why not.

mod command;
mod error;
mod event;
mod file_path;
mod values;

use std::collections::BTreeSet;

use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::AgentCommand;
pub use error::AgentError;
pub use event::AgentEvent;
pub use file_path::FilePath;
pub use values::{AgentStatus, TaskOutcome};

use crate::shared::access::ProjectAccess;

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
    /// The model it is on now: its own from registration, then the
    /// orchestrator's last choice.
    #[serde(default)]
    pub model: String,
}

/// The shared writer rule ([`ProjectAccess::require_writer`]), refused in
/// this aggregate's words.
fn require_writer(access: ProjectAccess) -> Result<(), AgentError> {
    access.require_writer().map(|_| ()).map_err(AgentError::from)
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
                agent_id,
                project_id,
                model,
                ..
            } => {
                self.id = Some(agent_id);
                self.project_id = Some(project_id);
                self.model = model;
            }
            AgentEvent::ModelSwitched { to, .. } => self.model = to,
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

crate::sink::decider!(Agent);

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
                // Set with the id at registration; never a nil id in an event.
                let project_id = self.project_id.ok_or(AgentError::NotFound)?;
                Ok(vec![AgentEvent::FileLockAcquired {
                    lock_id,
                    project_id,
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
            AgentCommand::SwitchModel {
                task_id,
                model,
                budget_remaining_usd,
            } => {
                if model == self.model {
                    return Ok(vec![]);
                }
                let agent_id = self.id.ok_or(AgentError::NotFound)?;
                Ok(vec![AgentEvent::ModelSwitched {
                    agent_id,
                    from: self.model.clone(),
                    to: model,
                    task_id,
                    budget_remaining_usd,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests;
