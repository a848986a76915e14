//! The Execution aggregate: one run of a project through its workflow
//! stages. It records what the orchestrator planned and what came of it;
//! the orchestrator (command-api's process manager) reads its events and
//! issues the next commands. Its state is small: the run's tasks (one per
//! agent and stage) and why it waits.
//!
//! # Layout
//! - `values`: statuses, pause reasons, planned tasks and their ids.
//! - `command`, `event`, `error`: what may be asked, what happened, why not.

mod command;
mod error;
mod event;
mod values;

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::ExecutionCommand;
pub use error::ExecutionError;
pub use event::ExecutionEvent;
pub use values::{ExecutionStatus, PauseReason, PlannedTask, StagePhase, TaskSlot};

use crate::agent::TaskOutcome;
use crate::project::Stage;
use crate::shared::access::{AccessRefusal, ProjectAccess};

/// What a run's decisions need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Set by `ExecutionStarted`.
    pub id: Option<Uuid>,
    /// Its project.
    pub project_id: Option<Uuid>,
    /// Who started it (the orchestrator's commands act for them).
    pub started_by: Option<Uuid>,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// The current stage.
    pub stage: Option<Stage>,
    /// Where the current stage stands.
    pub phase: StagePhase,
    /// Every task of the run.
    pub tasks: BTreeMap<Uuid, TaskSlot>,
    /// Why it waits (paused while not empty).
    pub pause_reasons: BTreeSet<PauseReason>,
    /// At most this many tasks are claimed at once.
    pub max_parallel_tasks: u32,
}

/// Only owners and admins direct a run, in a project that is not archived.
fn require_manager(access: ProjectAccess) -> Result<(), ExecutionError> {
    let role = access.require_writer().map_err(ExecutionError::from)?;
    if role.can_manage() {
        Ok(())
    } else {
        Err(ExecutionError::from(AccessRefusal::Viewer))
    }
}

impl Aggregate for Execution {
    const TYPE: &'static str = "Execution";
    type Command = ExecutionCommand;
    type Event = ExecutionEvent;
    type Error = ExecutionError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            ExecutionEvent::ExecutionStarted {
                execution_id,
                project_id,
                stage,
                started_by,
                max_parallel_tasks,
            } => {
                self.id = Some(execution_id);
                self.project_id = Some(project_id);
                self.started_by = Some(started_by);
                self.stage = Some(stage);
                self.max_parallel_tasks = max_parallel_tasks;
            }
            ExecutionEvent::StageOpened { stage, tasks } => {
                self.stage = Some(stage);
                self.phase = StagePhase::Open;
                for task in tasks {
                    self.tasks.insert(
                        task.task_id,
                        TaskSlot {
                            agent_id: task.agent_id,
                            stage,
                            outcome: None,
                        },
                    );
                }
            }
            ExecutionEvent::TaskSettled { task_id, outcome, .. } => {
                if let Some(slot) = self.tasks.get_mut(&task_id) {
                    slot.outcome = Some(outcome);
                }
            }
            ExecutionEvent::StageCompleted { .. } => self.phase = StagePhase::Completed,
            ExecutionEvent::ExecutionPaused { reason } => {
                self.pause_reasons.insert(reason);
                self.status = ExecutionStatus::Paused;
            }
            ExecutionEvent::PauseLifted { reasons, retry, .. } => {
                for reason in &reasons {
                    self.pause_reasons.remove(reason);
                }
                for task in retry {
                    if let Some(slot) = self.tasks.get_mut(&task) {
                        slot.outcome = None;
                    }
                }
                if self.pause_reasons.is_empty() {
                    self.status = ExecutionStatus::Running;
                }
            }
            ExecutionEvent::ExecutionCancelled { .. } => self.status = ExecutionStatus::Cancelled,
            ExecutionEvent::ExecutionCompleted { .. } => self.status = ExecutionStatus::Completed,
        }
    }
}

crate::sink::decider!(Execution);

impl Execution {
    /// The tasks of the current stage.
    pub fn stage_tasks(&self) -> impl Iterator<Item = (&Uuid, &TaskSlot)> {
        self.tasks
            .iter()
            .filter(|(_, slot)| Some(slot.stage) == self.stage)
    }

    /// Refuses what a finished run no longer takes.
    fn require_unfinished(&self) -> Result<(), ExecutionError> {
        if self.status.is_finished() {
            return Err(ExecutionError::Finished { status: self.status });
        }
        Ok(())
    }

    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`ExecutionError`] naming the rule the command breaks.
    pub fn decide(&self, command: ExecutionCommand) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        if self.id.is_none() && !matches!(command, ExecutionCommand::Start { .. }) {
            return Err(ExecutionError::NotFound);
        }
        match command {
            ExecutionCommand::Start {
                execution_id,
                project_id,
                stage,
                started_by,
                max_parallel_tasks,
            } => {
                if self.id.is_some() {
                    return Err(ExecutionError::AlreadyExists);
                }
                Ok(vec![ExecutionEvent::ExecutionStarted {
                    execution_id,
                    project_id,
                    stage,
                    started_by,
                    max_parallel_tasks,
                }])
            }
            ExecutionCommand::OpenStage { stage, tasks } => self.decide_open_stage(stage, tasks),
            ExecutionCommand::SettleTask {
                task_id,
                outcome,
                run_cost_usd,
            } => self.decide_settle(task_id, outcome, run_cost_usd),
            ExecutionCommand::Pause { actor, access } => {
                require_manager(access)?;
                self.require_unfinished()?;
                let reason = PauseReason::Manual { by: actor };
                if self
                    .pause_reasons
                    .iter()
                    .any(|r| matches!(r, PauseReason::Manual { .. }))
                {
                    return Ok(vec![]);
                }
                Ok(vec![ExecutionEvent::ExecutionPaused { reason }])
            }
            ExecutionCommand::Resume { actor, access } => {
                require_manager(access)?;
                self.require_unfinished()?;
                if self.status != ExecutionStatus::Paused {
                    return Err(ExecutionError::NotPaused);
                }
                let retry = self
                    .stage_tasks()
                    .filter(|(_, slot)| slot.outcome == Some(TaskOutcome::Failed))
                    .map(|(id, _)| *id)
                    .collect();
                Ok(vec![ExecutionEvent::PauseLifted {
                    reasons: self.pause_reasons.iter().copied().collect(),
                    retry,
                    by: Some(actor),
                }])
            }
            ExecutionCommand::Cancel { actor, access } => {
                require_manager(access)?;
                self.require_unfinished()?;
                Ok(vec![ExecutionEvent::ExecutionCancelled { by: actor }])
            }
            ExecutionCommand::PauseForConflict { conflict_id } => {
                let reason = PauseReason::ConflictEscalated { conflict_id };
                if self.status.is_finished() || self.pause_reasons.contains(&reason) {
                    return Ok(vec![]);
                }
                Ok(vec![ExecutionEvent::ExecutionPaused { reason }])
            }
            ExecutionCommand::LiftConflictPause { conflict_id } => {
                let reason = PauseReason::ConflictEscalated { conflict_id };
                if self.status.is_finished() || !self.pause_reasons.contains(&reason) {
                    return Ok(vec![]);
                }
                Ok(vec![ExecutionEvent::PauseLifted {
                    reasons: vec![reason],
                    retry: vec![],
                    by: None,
                }])
            }
            ExecutionCommand::Complete { cost_usd } => {
                if self.status == ExecutionStatus::Completed {
                    return Ok(vec![]);
                }
                self.require_unfinished()?;
                if self.status == ExecutionStatus::Paused {
                    return Err(ExecutionError::Paused);
                }
                let current = self.stage.ok_or(ExecutionError::NotFound)?;
                if self.phase != StagePhase::Completed || current.next().is_some() {
                    return Err(ExecutionError::StagesRemain { current });
                }
                Ok(vec![ExecutionEvent::ExecutionCompleted { cost_usd }])
            }
        }
    }

    fn decide_open_stage(
        &self,
        stage: Stage,
        tasks: Vec<PlannedTask>,
    ) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        self.require_unfinished()?;
        let current = self.stage.ok_or(ExecutionError::NotFound)?;
        if current == stage && self.phase != StagePhase::NotOpened {
            // Opened already (a replay of the orchestrator): nothing new.
            return Ok(vec![]);
        }
        if self.status == ExecutionStatus::Paused {
            return Err(ExecutionError::Paused);
        }
        let in_order = (current == stage && self.phase == StagePhase::NotOpened)
            || (self.phase == StagePhase::Completed && current.next() == Some(stage));
        if !in_order {
            return Err(ExecutionError::StageOutOfOrder {
                current,
                requested: stage,
            });
        }
        let empty = tasks.is_empty();
        let mut events = vec![ExecutionEvent::StageOpened { stage, tasks }];
        if empty {
            // No agent works on this stage: it is done as soon as it opens.
            events.push(ExecutionEvent::StageCompleted { stage });
        }
        Ok(events)
    }

    fn decide_settle(
        &self,
        task_id: Uuid,
        outcome: TaskOutcome,
        run_cost_usd: rust_decimal::Decimal,
    ) -> Result<Vec<ExecutionEvent>, ExecutionError> {
        let slot = self.tasks.get(&task_id).ok_or(ExecutionError::UnknownTask)?;
        if slot.outcome.is_some() || self.status.is_finished() {
            // Settled already, or the run is over: nothing new.
            return Ok(vec![]);
        }
        let stage = slot.stage;
        let (mut settled, mut succeeded, mut total) = (0_u32, 0_u32, 0_u32);
        for (id, other) in self.tasks.iter().filter(|(_, s)| s.stage == stage) {
            total += 1;
            let ended = if *id == task_id {
                Some(outcome)
            } else {
                other.outcome
            };
            settled += u32::from(ended.is_some());
            succeeded += u32::from(ended == Some(TaskOutcome::Succeeded));
        }
        let mut events = vec![ExecutionEvent::TaskSettled {
            task_id,
            agent_id: slot.agent_id,
            stage,
            outcome,
            settled,
            total,
            run_cost_usd,
        }];
        if outcome == TaskOutcome::Failed {
            events.push(ExecutionEvent::ExecutionPaused {
                reason: PauseReason::TaskFailed { task_id },
            });
        } else if succeeded == total && Some(stage) == self.stage && self.phase == StagePhase::Open {
            events.push(ExecutionEvent::StageCompleted { stage });
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests;
