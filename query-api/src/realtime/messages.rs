//! The messages sockets are sent: an event's notification
//! (`zekka_platform::notifications`, shared with webhooks) with the project
//! and conversation it belongs to, made once per event for every socket.

use serde_json::Value;
use uuid::Uuid;
use zekka_event_store::event_log::StoredEvent;
use zekka_platform::notifications;

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

/// The JSON text of a message.
pub fn text(kind: &str, data: Value, position: i64) -> std::sync::Arc<str> {
    serde_json::json!({"type": kind, "data": data, "position": position})
        .to_string()
        .into()
}

/// The message for `event` (whose project is `project_id`), if any.
pub fn outgoing(event: &StoredEvent, project_id: Option<Uuid>) -> Option<Outgoing> {
    let notification = notifications::notification(event, project_id)?;
    let conversation_id = (event.aggregate_type == "Conversation")
        .then(|| Uuid::parse_str(&event.aggregate_id).ok())
        .flatten();
    let removed_member = (event.event_type == "ProjectMemberRemoved")
        .then(|| {
            notification
                .data
                .get("user_id")
                .and_then(Value::as_str)
                .and_then(|u| Uuid::parse_str(u).ok())
        })
        .flatten();
    Some(Outgoing {
        position: event.position,
        project_id,
        conversation_id,
        removed_member,
        text: notification.text(event.position.global_position).into(),
    })
}

pub use notifications::project_in_payload;
