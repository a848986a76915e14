//! Which fields of which events are personal data, and whose.

use serde_json::Value;

/// Whose a sealed field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The stream's own id (a User stream is about that user).
    AggregateId,
    /// A field of the same event naming the person.
    Field(&'static str),
}

/// One sealed field of one event type.
#[derive(Debug, Clone, Copy)]
pub struct SealedField {
    /// The stream type.
    pub aggregate_type: &'static str,
    /// The event type.
    pub event_type: &'static str,
    /// The field of the event (a string).
    pub field: &'static str,
    /// Whose it is.
    pub subject: Subject,
}

/// Every personal field of every event: a person's email and name, the
/// address and user agent they sign in from, and what they write in
/// conversations. Project names, agents' output and conflict
/// texts are work records of the project, not personal data (docs/audit.md).
pub const SEALED_FIELDS: &[SealedField] = &[
    SealedField {
        aggregate_type: "User",
        event_type: "UserRegistered",
        field: "email",
        subject: Subject::AggregateId,
    },
    SealedField {
        aggregate_type: "User",
        event_type: "UserRegistered",
        field: "display_name",
        subject: Subject::AggregateId,
    },
    SealedField {
        aggregate_type: "User",
        event_type: "DisplayNameChanged",
        field: "display_name",
        subject: Subject::AggregateId,
    },
    SealedField {
        aggregate_type: "Session",
        event_type: "SessionStarted",
        field: "client_ip",
        subject: Subject::Field("user_id"),
    },
    SealedField {
        aggregate_type: "Session",
        event_type: "SessionStarted",
        field: "user_agent",
        subject: Subject::Field("user_id"),
    },
    SealedField {
        aggregate_type: "Project",
        event_type: "InvitationSent",
        field: "email",
        subject: Subject::Field("invitation_id"),
    },
    SealedField {
        aggregate_type: "Conversation",
        event_type: "ConversationStarted",
        field: "title",
        subject: Subject::Field("started_by"),
    },
    SealedField {
        aggregate_type: "Conversation",
        event_type: "MessageSent",
        field: "content",
        subject: Subject::Field("author_id"),
    },
    SealedField {
        aggregate_type: "Conversation",
        event_type: "MessageEdited",
        field: "content",
        subject: Subject::Field("edited_by"),
    },
];

/// The fields of every event's metadata that are personal data of its
/// `actor`: the network details of the request (issue 26).
pub const SEALED_METADATA: &[&str] = &["client_ip", "user_agent"];

/// The field `UserRegistered` gains at rest: the email's blind index.
pub const EMAIL_INDEX_FIELD: &str = "email_index";

/// Whether any field of `event_type` (in `aggregate_type`'s streams) is
/// sealed: such events are read only through the store, which opens them.
pub fn has_sealed_fields(aggregate_type: &str, event_type: &str) -> bool {
    sealed_fields(aggregate_type, event_type).next().is_some()
}

pub(super) fn sealed_fields(
    aggregate_type: &str,
    event_type: &str,
) -> impl Iterator<Item = &'static SealedField> {
    SEALED_FIELDS
        .iter()
        .filter(move |f| f.aggregate_type == aggregate_type && f.event_type == event_type)
}

/// The inner object of an externally tagged payload (`{"Event": {…}}`).
pub(super) fn inner_mut(payload: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    payload.as_object_mut()?.values_mut().next()?.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sealed_field_names_its_person() {
        for field in SEALED_FIELDS {
            assert!(!field.field.is_empty());
            if let Subject::Field(name) = field.subject {
                assert_ne!(name, field.field);
            }
        }
    }
}
