//! The Task aggregate: one agent's work in one stage of a run, handed out
//! under a lease. Agent processes claim it, keep the lease alive with
//! heartbeats and finish it; a lease that ends without a heartbeat lapses
//! and the task is open again, until the third lapse fails it.
//!
//! Tasks a person assigns by hand stay on the agent's stream
//! (`TaskAssigned`); these are the orchestrator's.
//!
//! # Layout
//! - `values`: task states and the lapse limit.
//! - `command`, `event`, `error`: what may be asked, what happened, why not.

mod command;
mod error;
mod event;
mod values;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::TaskCommand;
pub use error::TaskError;
pub use event::TaskEvent;
pub use values::{MAX_LAPSES, TaskState};

use crate::agent::TaskOutcome;
use crate::project::Stage;

/// What a task's decisions need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Set by `TaskOpened`.
    pub id: Option<Uuid>,
    /// Its run.
    pub execution_id: Option<Uuid>,
    /// Its project.
    pub project_id: Option<Uuid>,
    /// The agent that does it.
    pub agent_id: Option<Uuid>,
    /// Its stage.
    pub stage: Option<Stage>,
    /// The model it runs on.
    pub model: String,
    /// Where it stands.
    pub state: TaskState,
    /// When the current lease ends (while claimed).
    pub lease_until: Option<DateTime<Utc>>,
    /// Claims so far.
    pub claims: u32,
    /// Lapsed leases so far.
    pub lapses: u32,
}

impl Aggregate for Task {
    const TYPE: &'static str = "Task";
    type Command = TaskCommand;
    type Event = TaskEvent;
    type Error = TaskError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            TaskEvent::TaskOpened {
                task_id,
                execution_id,
                project_id,
                agent_id,
                stage,
                model,
            } => {
                self.id = Some(task_id);
                self.execution_id = Some(execution_id);
                self.project_id = Some(project_id);
                self.agent_id = Some(agent_id);
                self.stage = Some(stage);
                self.model = model;
            }
            TaskEvent::TaskClaimed {
                lease_until, attempt, ..
            } => {
                self.state = TaskState::Claimed;
                self.lease_until = Some(lease_until);
                self.claims = attempt;
            }
            TaskEvent::TaskLeaseExtended { lease_until } => self.lease_until = Some(lease_until),
            TaskEvent::TaskLeaseLapsed { lapses, .. } => {
                self.state = TaskState::Open;
                self.lease_until = None;
                self.lapses = lapses;
            }
            TaskEvent::TaskFinished { outcome, .. } => {
                self.lease_until = None;
                self.state = match outcome {
                    TaskOutcome::Succeeded => TaskState::Succeeded,
                    TaskOutcome::Failed => TaskState::Failed,
                };
            }
            TaskEvent::TaskReopened {} => {
                self.state = TaskState::Open;
                self.lapses = 0;
            }
            TaskEvent::TaskCancelled {} => {
                self.lease_until = None;
                self.state = TaskState::Cancelled;
            }
        }
    }
}

crate::sink::decider!(Task);

impl Task {
    /// Whether `agent_id` holds the lease now.
    pub fn held_by(&self, agent_id: Uuid, now: DateTime<Utc>) -> bool {
        self.agent_id == Some(agent_id)
            && self.state == TaskState::Claimed
            && self.lease_until.is_some_and(|until| until >= now)
    }

    /// The lapse of the current lease, failing the task on the last one allowed.
    fn lapse(&self, lease_until: DateTime<Utc>) -> Vec<TaskEvent> {
        let lapses = self.lapses + 1;
        let mut events = vec![TaskEvent::TaskLeaseLapsed { lease_until, lapses }];
        if lapses >= MAX_LAPSES {
            events.push(TaskEvent::TaskFinished {
                outcome: TaskOutcome::Failed,
                detail: format!("the lease lapsed {lapses} times without a heartbeat"),
            });
        }
        events
    }

    fn require_agent(&self, agent_id: Uuid) -> Result<(), TaskError> {
        if self.agent_id == Some(agent_id) {
            Ok(())
        } else {
            Err(TaskError::NotFound)
        }
    }

    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`TaskError`] naming the rule the command breaks.
    pub fn decide(&self, command: TaskCommand) -> Result<Vec<TaskEvent>, TaskError> {
        if self.id.is_none() && !matches!(command, TaskCommand::Create { .. }) {
            return Err(TaskError::NotFound);
        }
        match command {
            TaskCommand::Create {
                task_id,
                execution_id,
                project_id,
                agent_id,
                stage,
                model,
            } => {
                if self.id.is_some() {
                    return Err(TaskError::AlreadyExists);
                }
                Ok(vec![TaskEvent::TaskOpened {
                    task_id,
                    execution_id,
                    project_id,
                    agent_id,
                    stage,
                    model,
                }])
            }
            TaskCommand::Claim {
                agent_id,
                now,
                lease_until,
            } => {
                self.require_agent(agent_id)?;
                match (self.state, self.lease_until) {
                    (TaskState::Open, _) => Ok(vec![TaskEvent::TaskClaimed {
                        agent_id,
                        lease_until,
                        attempt: self.claims + 1,
                    }]),
                    (TaskState::Claimed, Some(until)) if until < now => {
                        // The sweeper has not come by yet: lapse it here,
                        // then claim it unless that lapse failed it.
                        let mut events = self.lapse(until);
                        if self.lapses + 1 < MAX_LAPSES {
                            events.push(TaskEvent::TaskClaimed {
                                agent_id,
                                lease_until,
                                attempt: self.claims + 1,
                            });
                        }
                        Ok(events)
                    }
                    (TaskState::Claimed, _) => Err(TaskError::Claimed),
                    (state, _) => Err(TaskError::Finished { state }),
                }
            }
            TaskCommand::Heartbeat {
                agent_id,
                now,
                lease_until,
            } => {
                self.require_agent(agent_id)?;
                if !self.held_by(agent_id, now) {
                    return Err(TaskError::LeaseLost);
                }
                Ok(vec![TaskEvent::TaskLeaseExtended { lease_until }])
            }
            TaskCommand::Lapse { lease_until, now } => {
                if self.state != TaskState::Claimed
                    || self.lease_until != Some(lease_until)
                    || lease_until >= now
                {
                    // Extended, finished or lapsed already since the sweeper looked.
                    return Ok(vec![]);
                }
                Ok(self.lapse(lease_until))
            }
            TaskCommand::Finish {
                agent_id,
                outcome,
                detail,
                access,
            } => {
                access.require_writer().map_err(TaskError::from)?;
                self.require_agent(agent_id)?;
                if self.state.is_finished() {
                    return Err(TaskError::Finished { state: self.state });
                }
                Ok(vec![TaskEvent::TaskFinished {
                    outcome,
                    detail: detail.as_str().to_owned(),
                }])
            }
            TaskCommand::Retry => Ok(if self.state == TaskState::Failed {
                vec![TaskEvent::TaskReopened {}]
            } else {
                vec![]
            }),
            TaskCommand::Cancel => Ok(if self.state.is_finished() {
                vec![]
            } else {
                vec![TaskEvent::TaskCancelled {}]
            }),
        }
    }
}

#[cfg(test)]
mod tests;
