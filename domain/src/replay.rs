//! An aggregate's state rebuilt from stored payloads with the aggregates'
//! own `apply`, exactly as the command side rebuilds it: what the audit
//! routes show as "the state as of a time".

use cqrs_es::Aggregate;
use serde_json::Value;

use crate::agent::Agent;
use crate::conflict::Conflict;
use crate::conversation::Conversation;
use crate::execution::Execution;
use crate::preferences::Preferences;
use crate::pricing::ModelPrice;
use crate::project::Project;
use crate::projection::Projection;
use crate::session::Session;
use crate::source::{Source, SourceFolder};
use crate::task::Task;
use crate::user::User;

/// Why a stream could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No aggregate of that type exists.
    #[error("unknown aggregate type {0:?}")]
    UnknownType(String),
    /// A payload does not match its aggregate's events.
    #[error("event {sequence} does not match its aggregate's events: {source}")]
    Payload {
        /// Its sequence.
        sequence: usize,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Every aggregate type, by its stored name.
pub const AGGREGATE_TYPES: [&str; 13] = [
    Project::TYPE,
    User::TYPE,
    Session::TYPE,
    Conversation::TYPE,
    Preferences::TYPE,
    Agent::TYPE,
    Conflict::TYPE,
    ModelPrice::TYPE,
    Projection::TYPE,
    Execution::TYPE,
    Task::TYPE,
    Source::TYPE,
    SourceFolder::TYPE,
];

fn fold<A: Aggregate>(payloads: impl IntoIterator<Item = Value>) -> Result<Value, ReplayError> {
    let mut aggregate = A::default();
    for (n, payload) in payloads.into_iter().enumerate() {
        let event: A::Event = serde_json::from_value(payload).map_err(|source| ReplayError::Payload {
            sequence: n + 1,
            source,
        })?;
        aggregate.apply(event);
    }
    serde_json::to_value(&aggregate).map_err(|source| ReplayError::Payload { sequence: 0, source })
}

/// The state of an `aggregate_type` aggregate after `payloads` (its
/// stream's events in order, already upcast), as JSON.
///
/// # Errors
/// An unknown type, or a payload that is not one of its events.
pub fn state_after(
    aggregate_type: &str,
    payloads: impl IntoIterator<Item = Value>,
) -> Result<Value, ReplayError> {
    match aggregate_type {
        Project::TYPE => fold::<Project>(payloads),
        User::TYPE => fold::<User>(payloads),
        Session::TYPE => fold::<Session>(payloads),
        Conversation::TYPE => fold::<Conversation>(payloads),
        Preferences::TYPE => fold::<Preferences>(payloads),
        Agent::TYPE => fold::<Agent>(payloads),
        Conflict::TYPE => fold::<Conflict>(payloads),
        ModelPrice::TYPE => fold::<ModelPrice>(payloads),
        Projection::TYPE => fold::<Projection>(payloads),
        Execution::TYPE => fold::<Execution>(payloads),
        Task::TYPE => fold::<Task>(payloads),
        Source::TYPE => fold::<Source>(payloads),
        SourceFolder::TYPE => fold::<SourceFolder>(payloads),
        other => Err(ReplayError::UnknownType(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ProjectEvent;
    use cqrs_es::DomainEvent;

    #[test]
    fn replaying_a_prefix_gives_the_state_at_that_point() {
        let created = serde_json::json!({"ProjectCreated": {
            "project_id": "0190b7a0-0000-7000-8000-000000000001",
            "name": "Before", "description": "", "budget_usd": null,
            "owner_id": "0190b7a0-0000-7000-8000-000000000002", "stage": "requirements"}});
        let renamed =
            serde_json::json!({"ProjectUpdated": {"name": "After", "description": "", "budget_usd": null}});
        // Both payloads are events the aggregate knows.
        for payload in [&created, &renamed] {
            let event: ProjectEvent = serde_json::from_value(payload.clone()).expect("a project event");
            assert!(!event.event_type().is_empty());
        }
        let before = state_after("Project", [created.clone()]).expect("replay");
        let after = state_after("Project", [created, renamed]).expect("replay");
        assert_ne!(before, after);
        assert!(before.to_string().contains("Before"), "{before}");
        assert!(after.to_string().contains("After"), "{after}");
    }

    #[test]
    fn unknown_types_and_foreign_payloads_are_errors() {
        assert!(matches!(
            state_after("Nope", []),
            Err(ReplayError::UnknownType(_))
        ));
        let foreign = serde_json::json!({"SomethingElse": {}});
        assert!(matches!(
            state_after("Project", [foreign]),
            Err(ReplayError::Payload { sequence: 1, .. })
        ));
    }
}
