//! The Projection aggregate: what operators decide about one read model's
//! projection, kept in the event stream so the audit shows who decided what
//! and why. Today that is one decision: to skip an event the projection
//! cannot apply (a poison event), so it moves past it instead of stopping.
//!
//! The aggregate's id is the projection's name (`conversations`, `usage`, …).
//!
//! # Layout
//! - [`command`]: what an operator may ask of a projection.
//! - [`error`]: why a projection refuses a command.
//! - [`event`]: what operators did to a projection.
//! - [`values`]: the reason an operator gives, and one skipped event.

pub mod command;
pub mod error;
pub mod event;
#[cfg(test)]
mod tests;
pub mod values;

use std::collections::BTreeMap;

use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, FieldError, Refusal};
use crate::shared::text::PlainText;

pub use command::*;
pub use error::*;
pub use event::*;
pub use values::*;

/// A projection's operator decisions: the events it passes over, by position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Skipped events by global position.
    pub skipped: BTreeMap<i64, Skip>,
}

impl Aggregate for Projection {
    const TYPE: &'static str = "Projection";
    type Command = ProjectionCommand;
    type Event = ProjectionEvent;
    type Error = ProjectionError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            ProjectionEvent::ProjectionEventSkipped {
                position,
                event_type,
                reason,
                skipped_by,
            } => {
                self.skipped.insert(
                    position,
                    Skip {
                        event_type,
                        reason,
                        skipped_by,
                    },
                );
            }
        }
    }
}

crate::sink::decider!(Projection);

impl Projection {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// [`ProjectionError::AlreadySkipped`] for an event skipped before.
    pub fn decide(&self, command: ProjectionCommand) -> Result<Vec<ProjectionEvent>, ProjectionError> {
        match command {
            ProjectionCommand::SkipEvent {
                position,
                event_type,
                reason,
                skipped_by,
            } => {
                if self.skipped.contains_key(&position) {
                    return Err(ProjectionError::AlreadySkipped { position });
                }
                Ok(vec![ProjectionEvent::ProjectionEventSkipped {
                    position,
                    event_type,
                    reason: reason.as_str().to_owned(),
                    skipped_by,
                }])
            }
        }
    }

    /// The projection's state from its stored events' payloads, oldest
    /// first (the projectors read it without the command side's store).
    ///
    /// # Errors
    /// When a payload is not a [`ProjectionEvent`].
    pub fn from_payloads<'a>(
        payloads: impl IntoIterator<Item = &'a serde_json::Value>,
    ) -> Result<Self, serde_json::Error> {
        let mut projection = Self::default();
        for payload in payloads {
            projection.apply(ProjectionEvent::deserialize(payload)?);
        }
        Ok(projection)
    }
}
