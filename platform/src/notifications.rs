//! What each event means to clients: the name and data of the message that
//! real-time sockets push and webhooks deliver (one mapping, so a webhook
//! receives exactly what a socket would). Events clients are not told
//! about map to nothing.

use serde_json::{Map, Value};
use uuid::Uuid;
use zekka_event_store::event_log::StoredEvent;

/// One event as clients hear of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The message type (`message:received`, `task:created`, …).
    pub kind: &'static str,
    /// The event's fields, with its aggregate's id, project and time.
    pub data: Value,
}

impl Notification {
    /// The JSON text sent: `{"type", "data", "position"}`.
    pub fn text(&self, position: i64) -> String {
        serde_json::json!({"type": self.kind, "data": self.data, "position": position}).to_string()
    }
}

/// The message type of an event, if clients hear of it.
pub fn kind_of(aggregate_type: &str, event_type: &str) -> Option<&'static str> {
    Some(match (aggregate_type, event_type) {
        ("Conversation", "ConversationStarted") => "conversation:created",
        ("Conversation", "MessageSent") => "message:received",
        ("Conversation", "MessageEdited") => "message:updated",
        ("Conversation", "MessageDeleted") => "message:deleted",
        ("Agent", "AgentRegistered") => "agent:registered",
        ("Agent", "AgentStatusChanged") => "agent:statusChanged",
        ("Agent", "ModelSwitched") => "model:switched",
        ("Project", "ProjectCreated") => "project:created",
        (
            "Project",
            "ProjectUpdated"
            | "ProjectArchived"
            | "ProjectStageAdvanced"
            | "ProjectMemberAdded"
            | "ProjectMemberRoleChanged"
            | "ProjectMemberRemoved",
        ) => "project:updated",
        ("Conflict", "ConflictReported") => "conflict:detected",
        ("Conflict", "ConflictResolved") => "conflict:resolved",
        ("Conflict", "ConflictEscalated") => "conflict:escalated",
        ("Execution", _) => "execution:updated",
        ("Task", "TaskOpened") => "task:created",
        ("Task", "TaskFinished") => "task:completed",
        ("Source", "SourceAdded") => "source:added",
        ("Source", "SourceRemoved") => "source:removed",
        _ => return None,
    })
}

/// Every message type an event makes: what a webhook may subscribe to
/// (`metrics:updated` is the real-time hub's own summary, not an event's).
pub const KINDS: [&str; 17] = [
    "conversation:created",
    "message:received",
    "message:updated",
    "message:deleted",
    "agent:registered",
    "agent:statusChanged",
    "model:switched",
    "project:created",
    "project:updated",
    "conflict:detected",
    "conflict:resolved",
    "conflict:escalated",
    "execution:updated",
    "task:created",
    "task:completed",
    "source:added",
    "source:removed",
];

/// The message for `event` (whose project is `project_id`), if any.
pub fn notification(event: &StoredEvent, project_id: Option<Uuid>) -> Option<Notification> {
    let kind = kind_of(&event.aggregate_type, &event.event_type)?;
    let inner = event
        .payload
        .get(&event.event_type)
        .cloned()
        .unwrap_or(Value::Null);
    let mut data = match inner {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let id = Value::String(event.aggregate_id.clone());
    let id_field = match event.aggregate_type.as_str() {
        "Conversation" => Some("conversation_id"),
        "Agent" => Some("agent_id"),
        "Conflict" => Some("conflict_id"),
        "Execution" => Some("execution_id"),
        "Task" => Some("task_id"),
        "Source" => Some("source_id"),
        _ => None,
    };
    if let Some(field) = id_field {
        data.insert(field.to_owned(), id);
    }
    if matches!(event.aggregate_type.as_str(), "Project" | "Execution") {
        data.insert("event".to_owned(), Value::String(event.event_type.clone()));
    }
    if let Some(project) = project_id {
        data.insert("project_id".to_owned(), Value::String(project.to_string()));
    }
    data.insert("at".to_owned(), Value::String(event.recorded_at.to_rfc3339()));
    Some(Notification {
        kind,
        data: Value::Object(data),
    })
}

/// The project named in an event's own payload (first events carry it).
pub fn project_in_payload(event: &StoredEvent) -> Option<Uuid> {
    if event.aggregate_type == "Project" {
        return Uuid::parse_str(&event.aggregate_id).ok();
    }
    event
        .payload
        .get(&event.event_type)?
        .get("project_id")?
        .as_str()
        .and_then(|p| Uuid::parse_str(p).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_an_event_maps_to_is_listed() {
        let pairs = [
            ("Conversation", "ConversationStarted"),
            ("Conversation", "MessageSent"),
            ("Conversation", "MessageEdited"),
            ("Conversation", "MessageDeleted"),
            ("Agent", "AgentRegistered"),
            ("Agent", "AgentStatusChanged"),
            ("Agent", "ModelSwitched"),
            ("Project", "ProjectCreated"),
            ("Project", "ProjectUpdated"),
            ("Conflict", "ConflictReported"),
            ("Conflict", "ConflictResolved"),
            ("Conflict", "ConflictEscalated"),
            ("Execution", "StageOpened"),
            ("Task", "TaskOpened"),
            ("Task", "TaskFinished"),
            ("Source", "SourceAdded"),
            ("Source", "SourceRemoved"),
        ];
        for (aggregate_type, event_type) in pairs {
            let kind = kind_of(aggregate_type, event_type).expect("a kind");
            assert!(KINDS.contains(&kind), "{kind} is not listed");
        }
        assert_eq!(kind_of("User", "UserRegistered"), None);
    }
}
