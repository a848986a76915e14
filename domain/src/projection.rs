//! The Projection aggregate: what operators decide about one read model's
//! projection, kept in the event stream so the audit shows who decided what
//! and why. Today that is one decision: to skip an event the projection
//! cannot apply (a poison event), so it moves past it instead of stopping.
//!
//! The aggregate's id is the projection's name (`conversations`, `usage`, …).

use std::collections::BTreeMap;

use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, FieldError, Refusal};
use crate::shared::text::PlainText;

/// Why an event is skipped: one to 1,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipReason(PlainText);

impl SkipReason {
    /// The longest reason accepted, in characters.
    pub const MAX_CHARS: usize = 1_000;

    /// Validates a reason as the operator gave it.
    ///
    /// # Errors
    /// When it is blank, too long or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.trim().is_empty() {
            return Err(FieldError::new("reason", "must say why the event is skipped"));
        }
        PlainText::parse("reason", raw.trim(), Self::MAX_CHARS).map(Self)
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

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

/// Something decided about a projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProjectionEvent {
    /// The projection passes over the event at `position`.
    ProjectionEventSkipped {
        /// The event's global position.
        position: i64,
        /// Its type.
        event_type: String,
        /// Why.
        reason: String,
        /// Who decided.
        skipped_by: String,
    },
}

impl DomainEvent for ProjectionEvent {
    fn event_type(&self) -> String {
        match self {
            ProjectionEvent::ProjectionEventSkipped { .. } => "ProjectionEventSkipped".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why an operator's decision is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProjectionError {
    /// The event is skipped already.
    #[error("the event at position {position} is already skipped")]
    AlreadySkipped {
        /// Its position.
        position: i64,
    },
}

impl Refusal for ProjectionError {
    fn kind(&self) -> ErrorKind {
        match self {
            ProjectionError::AlreadySkipped { .. } => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// A skipped event, as the projection and operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// Its type.
    pub event_type: String,
    /// Why it is skipped.
    pub reason: String,
    /// Who decided.
    pub skipped_by: String,
}

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

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn skip(position: i64) -> ProjectionCommand {
        ProjectionCommand::SkipEvent {
            position,
            event_type: "MessageSent".to_owned(),
            reason: SkipReason::parse("holds U+0000, which the read model cannot store").expect("reason"),
            skipped_by: "cli:operator".to_owned(),
        }
    }

    #[test]
    fn skipping_an_event_records_its_position_type_reason_and_who() {
        TestFramework::<Projection>::with(())
            .given_no_previous_events()
            .when(skip(42))
            .then_expect_events(vec![ProjectionEvent::ProjectionEventSkipped {
                position: 42,
                event_type: "MessageSent".to_owned(),
                reason: "holds U+0000, which the read model cannot store".to_owned(),
                skipped_by: "cli:operator".to_owned(),
            }]);
    }

    #[test]
    fn skipping_the_same_event_twice_is_refused() {
        TestFramework::<Projection>::with(())
            .given(Projection::default().decide(skip(42)).expect("decides"))
            .when(skip(42))
            .then_expect_error(ProjectionError::AlreadySkipped { position: 42 });
    }

    #[test]
    fn a_reason_must_be_given() {
        assert!(SkipReason::parse("  ").is_err());
        assert!(SkipReason::parse("a\u{0}b").is_err());
    }

    #[test]
    fn the_state_reads_back_from_stored_payloads() {
        let events = Projection::default().decide(skip(7)).expect("decides");
        let payloads: Vec<serde_json::Value> = events
            .iter()
            .map(|e| serde_json::to_value(e).expect("serialises"))
            .collect();
        let state = Projection::from_payloads(&payloads).expect("reads");
        assert_eq!(state.skipped.keys().copied().collect::<Vec<_>>(), vec![7]);
    }
}
