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
    /// Set for a message of one person's own channel (`project:created`
    /// for its owner, `project:memberAdded`, `invitation:received`): it
    /// goes to that person's sockets alone, subscribed or not.
    pub user_id: Option<Uuid>,
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
        user_id: None,
        text: notification.text(event.position.global_position).into(),
    })
}

/// The messages of people's own channels that `event` makes, besides its
/// project's: a new project to its owner, a membership change to the
/// member (whose `data` names the project and role). Invitations need the
/// invited address's account, which the hub looks up.
pub fn personal(event: &StoredEvent, project_id: Option<Uuid>) -> Vec<Outgoing> {
    if event.aggregate_type != "Project" {
        return vec![];
    }
    let Some(fields) = event.payload.get(&event.event_type) else {
        return vec![];
    };
    let person = |field: &str| {
        fields
            .get(field)
            .and_then(Value::as_str)
            .and_then(|u| Uuid::parse_str(u).ok())
    };
    let (kind, user) = match event.event_type.as_str() {
        "ProjectCreated" => ("project:created", person("owner_id")),
        "ProjectMemberAdded" => ("project:memberAdded", person("user_id")),
        "ProjectMemberRemoved" => ("project:memberRemoved", person("user_id")),
        _ => return vec![],
    };
    let Some(user) = user else {
        return vec![];
    };
    let mut data = fields.clone();
    if let Value::Object(map) = &mut data {
        if let Some(project) = project_id {
            map.insert("project_id".to_owned(), Value::String(project.to_string()));
        }
        map.insert("at".to_owned(), Value::String(event.recorded_at.to_rfc3339()));
    }
    vec![to_person(user, event.position, kind, data)]
}

/// A message of `user`'s own channel.
pub fn to_person(
    user: Uuid,
    position: zekka_event_store::event_log::Position,
    kind: &str,
    data: Value,
) -> Outgoing {
    Outgoing {
        position,
        project_id: None,
        conversation_id: None,
        removed_member: None,
        user_id: Some(user),
        text: text(kind, data, position.global_position),
    }
}

pub use notifications::project_in_payload;
