//! What each event means to a real-time client: its message type, its data,
//! and which project (and conversation) it belongs to. Events that clients
//! are not told about map to nothing.

use serde_json::{Map, Value};
use uuid::Uuid;
use zekka_event_store::event_log::StoredEvent;

/// One message for sockets, made once per event and shared by all of them.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The event's place in the commit order.
    pub position: zekka_event_store::event_log::Position,
    /// The project it belongs to.
    pub project_id: Option<Uuid>,
    /// The conversation it belongs to, for conversation events.
    pub conversation_id: Option<Uuid>,
    /// For `ProjectMemberRemoved`: who lost access.
    pub removed_member: Option<Uuid>,
    /// The JSON text sent: `{"type", "data", "position"}`.
    pub text: std::sync::Arc<str>,
}

/// The message type of an event, if clients hear of it.
pub fn kind_of(aggregate_type: &str, event_type: &str) -> Option<&'static str> {
    Some(match (aggregate_type, event_type) {
        ("Conversation", "MessageSent") => "message:received",
        ("Conversation", "MessageEdited") => "message:updated",
        ("Conversation", "MessageDeleted") => "message:deleted",
        ("Agent", "AgentStatusChanged") => "agent:statusChanged",
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
        ("Agent", "ModelSwitched") => "model:switched",
        ("Execution", _) => "execution:updated",
        ("Task", "TaskOpened") => "task:created",
        ("Task", "TaskFinished") => "task:completed",
        _ => return None,
    })
}

/// The JSON text of a message.
pub fn text(kind: &str, data: Value, position: i64) -> std::sync::Arc<str> {
    serde_json::json!({"type": kind, "data": data, "position": position})
        .to_string()
        .into()
}

/// The message for `event` (whose project is `project_id`), if any.
pub fn outgoing(event: &StoredEvent, project_id: Option<Uuid>) -> Option<Outgoing> {
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
    let conversation_id = match event.aggregate_type.as_str() {
        "Conversation" => {
            data.insert("conversation_id".to_owned(), id);
            Uuid::parse_str(&event.aggregate_id).ok()
        }
        "Agent" => {
            data.insert("agent_id".to_owned(), id);
            None
        }
        "Conflict" => {
            data.insert("conflict_id".to_owned(), id);
            None
        }
        "Execution" => {
            data.insert("execution_id".to_owned(), id);
            None
        }
        "Task" => {
            data.insert("task_id".to_owned(), id);
            None
        }
        _ => None,
    };
    if matches!(event.aggregate_type.as_str(), "Project" | "Execution") {
        data.insert("event".to_owned(), Value::String(event.event_type.clone()));
    }
    if let Some(project) = project_id {
        data.insert("project_id".to_owned(), Value::String(project.to_string()));
    }
    data.insert("at".to_owned(), Value::String(event.recorded_at.to_rfc3339()));
    let removed_member = (event.event_type == "ProjectMemberRemoved")
        .then(|| {
            data.get("user_id")
                .and_then(Value::as_str)
                .and_then(|u| Uuid::parse_str(u).ok())
        })
        .flatten();
    Some(Outgoing {
        position: event.position,
        project_id,
        conversation_id,
        removed_member,
        text: text(kind, Value::Object(data), event.position.global_position),
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
