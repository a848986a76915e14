//! The Conflict aggregate: agents disagreeing (over code, a design, a
//! requirement, a resource) and how it ended — resolved by an arbitrator
//! model, a person or a rule, or escalated to a person.
//!
//! # Layout
//! - `values`: its closed sets (kinds, strategies, outcomes).
//! - `command`, `event`, `error`: what may be asked, what happened, why not.

mod command;
mod error;
mod event;
mod values;

use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::ConflictCommand;
pub use error::ConflictError;
pub use event::ConflictEvent;
pub use values::{ArbitrationOutcome, ConflictKind, Strategy};

use crate::error::FieldError;
use crate::shared::access::ProjectAccess;

/// What a conflict's decisions need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Set by `ConflictReported`.
    pub id: Option<Uuid>,
    /// Its project.
    pub project_id: Option<Uuid>,
    /// Whether it was resolved.
    pub resolved: bool,
    /// Whether it was escalated.
    pub escalated: bool,
}

/// The shared writer rule ([`ProjectAccess::require_writer`]), refused in
/// this aggregate's words. An archived project takes no new conflicts and
/// settles none, as it takes nothing else.
fn require_writer(access: ProjectAccess) -> Result<(), ConflictError> {
    access.require_writer().map(|_| ()).map_err(ConflictError::from)
}

impl Aggregate for Conflict {
    const TYPE: &'static str = "Conflict";
    type Command = ConflictCommand;
    type Event = ConflictEvent;
    type Error = ConflictError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            ConflictEvent::ConflictReported {
                conflict_id,
                project_id,
                ..
            } => {
                self.id = Some(conflict_id);
                self.project_id = Some(project_id);
            }
            ConflictEvent::ConflictResolved { .. } => self.resolved = true,
            ConflictEvent::ConflictEscalated { .. } => self.escalated = true,
            ConflictEvent::ArbitrationAttempted { .. } => {}
        }
    }
}

crate::sink::decider!(Conflict);

impl Conflict {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`ConflictError`] naming the rule the command breaks.
    pub fn decide(&self, command: ConflictCommand) -> Result<Vec<ConflictEvent>, ConflictError> {
        if self.id.is_none() && !matches!(command, ConflictCommand::Report { .. }) {
            return Err(ConflictError::NotFound);
        }
        match command {
            ConflictCommand::Report {
                conflict_id,
                project_id,
                kind,
                description,
                agent_ids,
                file_path,
                actor,
                access,
            } => {
                if self.id.is_some() {
                    return Err(ConflictError::AlreadyExists);
                }
                require_writer(access)?;
                if agent_ids.is_empty() || agent_ids.len() > 20 {
                    return Err(FieldError::new("agent_ids", "must name 1 to 20 agents").into());
                }
                if description.as_str().trim().is_empty() {
                    return Err(FieldError::new("description", "must not be empty").into());
                }
                Ok(vec![ConflictEvent::ConflictReported {
                    conflict_id,
                    project_id,
                    kind,
                    description: description.as_str().to_owned(),
                    agent_ids,
                    file_path,
                    reported_by: actor,
                }])
            }
            ConflictCommand::Resolve {
                strategy,
                resolution,
                resolved_by_model,
                actor,
                access,
            } => {
                require_writer(access)?;
                if self.resolved {
                    return Err(ConflictError::AlreadyResolved);
                }
                if resolution.as_str().trim().is_empty() {
                    return Err(FieldError::new("resolution", "must not be empty").into());
                }
                Ok(vec![ConflictEvent::ConflictResolved {
                    strategy,
                    resolution: resolution.as_str().to_owned(),
                    resolved_by_model: resolved_by_model.map(|m| m.as_str().to_owned()),
                    resolved_by: actor,
                }])
            }
            ConflictCommand::Escalate {
                reason,
                actor,
                access,
            } => {
                require_writer(access)?;
                if self.resolved {
                    return Err(ConflictError::AlreadyResolved);
                }
                if self.escalated {
                    return Ok(vec![]);
                }
                Ok(vec![ConflictEvent::ConflictEscalated {
                    reason: reason.as_str().to_owned(),
                    escalated_by: actor,
                }])
            }
            ConflictCommand::RecordArbitrationAttempt {
                model,
                outcome,
                detail,
                latency_ms,
                input_tokens,
                output_tokens,
                cost_usd,
                actor,
                access,
            } => {
                require_writer(access)?;
                if self.resolved {
                    return Err(ConflictError::AlreadyResolved);
                }
                Ok(vec![ConflictEvent::ArbitrationAttempted {
                    model,
                    outcome,
                    detail: detail.as_str().to_owned(),
                    latency_ms,
                    input_tokens,
                    output_tokens,
                    cost_usd,
                    requested_by: actor,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests;
