//! `GET /api/v1/users/me/export`: everything the event streams hold about
//! the caller, as one JSON document (GDPR Art. 15 and 20). Built from the
//! events themselves — not the read models — with personal data opened and
//! secrets (password and token digests) redacted; nothing of anyone else.
//! The format is documented in `docs/privacy.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;
use zekka_event_store::audit::{self, RecordedEvent};
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::TokenHeader;

mod kept_elsewhere;

use kept_elsewhere::{
    ExportMail, ExportRememberedRequest, ExportSource, ExportWebhookMessage, kept_elsewhere,
};

use super::QueryTags;
use super::audit::redacted;
use crate::state::QueryState;

/// Exports.
pub struct PrivacyQueryApi {
    state: Arc<QueryState>,
}

impl PrivacyQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// The version of the export format.
const FORMAT: &str = "zekka.export.v1";

/// One event about the person.
#[derive(Debug, Object)]
struct ExportEvent {
    event_type: String,
    event_version: String,
    recorded_at: DateTime<Utc>,
    /// The event's fields (secrets redacted).
    data: Value,
    /// The address the request came from, when known.
    client_ip: Option<String>,
    /// The client's user agent, when known.
    user_agent: Option<String>,
}

/// The account.
#[derive(Debug, Object)]
struct ExportProfile {
    user_id: Uuid,
    email: String,
    display_name: String,
    email_verified: bool,
    registered_at: DateTime<Utc>,
}

/// One session (one sign-in and its refreshes).
#[derive(Debug, Object)]
struct ExportSession {
    session_id: String,
    events: Vec<ExportEvent>,
}

/// A project the person created, joined or left.
#[derive(Debug, Object)]
struct ExportProject {
    project_id: String,
    /// Their role now; `null` when they are no longer a member.
    role: Option<String>,
    /// The creation (when theirs) and every change of their membership.
    events: Vec<ExportEvent>,
}

/// A conversation the person started.
#[derive(Debug, Object)]
struct ExportConversation {
    conversation_id: String,
    project_id: Option<String>,
    title: Option<String>,
    started_at: DateTime<Utc>,
}

/// A change to a message.
#[derive(Debug, Object)]
struct ExportEdit {
    content: Option<String>,
    edited_at: DateTime<Utc>,
}

/// A message the person wrote.
#[derive(Debug, Object)]
struct ExportMessage {
    conversation_id: String,
    message_id: String,
    number: Option<i64>,
    /// user, agent or system.
    role: Option<String>,
    agent_id: Option<String>,
    content: Option<String>,
    sent_at: DateTime<Utc>,
    edits: Vec<ExportEdit>,
    deleted_at: Option<DateTime<Utc>>,
}

/// Token usage the person recorded.
#[derive(Debug, Object)]
struct ExportUsage {
    project_id: String,
    agent_id: Option<String>,
    model: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    /// USD, exact.
    cost_usd: Option<String>,
    recorded_at: DateTime<Utc>,
}

/// The person's preferences.
#[derive(Debug, Object)]
struct ExportPreferences {
    /// The current settings (`null` when never set: the defaults apply).
    current: Option<Value>,
    events: Vec<ExportEvent>,
}

/// An invitation to the person's address.
#[derive(Debug, Object)]
struct ExportInvitationReceived {
    invitation_id: String,
    project_id: String,
    /// The address it was sent to (theirs).
    email: Option<String>,
    role: Option<String>,
    invited_by: Option<String>,
    sent_at: DateTime<Utc>,
    expires_at: Option<String>,
    /// When they accepted it, if they did.
    accepted_at: Option<DateTime<Utc>>,
}

/// An invitation the person sent (the invitee's address is the invitee's
/// and is left out).
#[derive(Debug, Object)]
struct ExportInvitationSent {
    invitation_id: String,
    project_id: String,
    role: Option<String>,
    sent_at: DateTime<Utc>,
    expires_at: Option<String>,
}

/// Everything held about the caller.
#[derive(Debug, Object)]
struct Export {
    /// `zekka.export.v1`.
    format: String,
    exported_at: DateTime<Utc>,
    profile: ExportProfile,
    account_events: Vec<ExportEvent>,
    sessions: Vec<ExportSession>,
    projects: Vec<ExportProject>,
    conversations_started: Vec<ExportConversation>,
    messages: Vec<ExportMessage>,
    usage: Vec<ExportUsage>,
    preferences: ExportPreferences,
    invitations_received: Vec<ExportInvitationReceived>,
    invitations_sent: Vec<ExportInvitationSent>,
    /// Mail sent (or waiting to be sent) to them.
    mail: Vec<ExportMail>,
    /// Answers remembered for their idempotent writes.
    remembered_requests: Vec<ExportRememberedRequest>,
    /// Webhook messages naming them that wait for delivery.
    pending_webhook_messages: Vec<ExportWebhookMessage>,
    /// Sources they uploaded that are still kept (metadata; the bytes are
    /// the project's).
    sources_uploaded: Vec<ExportSource>,
}

/// The invitations to `me`'s address, each with its acceptance.
fn invitations_received(events: &[Stored]) -> Vec<ExportInvitationReceived> {
    events
        .iter()
        .filter(|e| e.event.event_type == "InvitationSent")
        .map(|sent| {
            let id = sent.text("invitation_id").unwrap_or_default();
            ExportInvitationReceived {
                project_id: sent.event.aggregate_id.clone(),
                email: sent.text("email"),
                role: sent.text("role"),
                invited_by: sent.text("invited_by"),
                sent_at: sent.event.recorded_at,
                expires_at: sent.text("expires_at"),
                accepted_at: events
                    .iter()
                    .find(|e| {
                        e.event.event_type == "InvitationAccepted"
                            && e.text("invitation_id").as_deref() == Some(id.as_str())
                    })
                    .map(|e| e.event.recorded_at),
                invitation_id: id,
            }
        })
        .collect()
}

/// A stored event, as the export reads it.
type Stored = RecordedEvent;

/// How the export reads a stored event.
trait Exported {
    /// The event's own fields (inside the type tag).
    fn data(&self) -> &Value;
    /// One text field of the event's own fields.
    fn text(&self, field: &str) -> Option<String>;
    /// The event as `me` gets it in their export.
    fn export(&self, me: Uuid) -> ExportEvent;
}

impl Exported for Stored {
    fn data(&self) -> &Value {
        self.event
            .payload
            .get(&self.event.event_type)
            .unwrap_or(&Value::Null)
    }

    fn text(&self, field: &str) -> Option<String> {
        self.data().get(field).and_then(Value::as_str).map(str::to_owned)
    }

    /// The event as `me` gets it in their export: the network details of
    /// the request that wrote it only when `me` sent that request, never
    /// another person's (security review F12).
    fn export(&self, me: Uuid) -> ExportEvent {
        let meta = |name: &str| self.metadata.get(name).and_then(Value::as_str).map(str::to_owned);
        let mine = meta("actor").is_some_and(|actor| actor == me.to_string());
        ExportEvent {
            event_type: self.event.event_type.clone(),
            event_version: self.event.event_version.clone(),
            recorded_at: self.event.recorded_at,
            data: redacted(self.data().clone()),
            client_ip: meta("client_ip").filter(|_| mine),
            user_agent: meta("user_agent").filter(|_| mine),
        }
    }
}

fn grouped(events: Vec<Stored>) -> BTreeMap<String, Vec<Stored>> {
    let mut groups: BTreeMap<String, Vec<Stored>> = BTreeMap::new();
    for event in events {
        groups
            .entry(event.event.aggregate_id.clone())
            .or_default()
            .push(event);
    }
    groups
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "QueryTags::Users")]
impl PrivacyQueryApi {
    /// Everything held about me, from the event streams, as one JSON
    /// document (format `zekka.export.v1`, see docs/privacy.md).
    #[oai(path = "/me/export", method = "get", operation_id = "exportMe")]
    async fn export(
        &self,
        auth: BearerAuth,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<Export>, Problem> {
        self.state
            .catch_up(
                auth.0.user_id,
                consistency_token.0.as_deref(),
                &["streams", "projects", "conversations", "sources"],
            )
            .await?;
        let me = auth.0.user_id;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let held = audit::about_person(&client, &self.state.personal, me).await?;
        let account = held.account;
        let registered = account
            .iter()
            .find(|e| e.event.event_type == "UserRegistered")
            .ok_or_else(|| Problem::not_found("no such account"))?;
        let profile = ExportProfile {
            user_id: me,
            email: registered.text("email").unwrap_or_default(),
            display_name: registered.text("display_name").unwrap_or_default(),
            email_verified: account.iter().any(|e| e.event.event_type == "EmailVerified"),
            registered_at: registered.event.recorded_at,
        };

        let sessions = held.sessions;
        let sessions = grouped(sessions)
            .into_iter()
            .map(|(session_id, events)| ExportSession {
                session_id,
                events: events.iter().map(|event| event.export(me)).collect(),
            })
            .collect();

        let memberships = held.memberships;
        let roles: BTreeMap<String, String> = client
            .query("SELECT project_id::text, role FROM visible_projects($1)", &[&me])
            .await
            .map_err(Problem::from_db)?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(Problem::from_db)?;
        let memberships = grouped(memberships);
        let projects = memberships
            .into_iter()
            .map(|(project_id, events)| ExportProject {
                role: roles.get(&project_id).cloned(),
                events: events.iter().map(|event| event.export(me)).collect(),
                project_id,
            })
            .collect();

        let started = held.conversations_started;
        let conversations_started = started
            .iter()
            .map(|e| ExportConversation {
                conversation_id: e.event.aggregate_id.clone(),
                project_id: e.text("project_id"),
                title: e.text("title"),
                started_at: e.event.recorded_at,
            })
            .collect();

        let sent = held.messages_sent;
        let later = held.message_changes;
        let messages = sent
            .iter()
            .map(|e| {
                let id = e.text("message_id").unwrap_or_default();
                let changes: Vec<&Stored> = later
                    .iter()
                    .filter(|l| l.text("message_id").as_deref() == Some(id.as_str()))
                    .collect();
                ExportMessage {
                    conversation_id: e.event.aggregate_id.clone(),
                    number: e.data().get("number").and_then(Value::as_i64),
                    role: e.text("role"),
                    agent_id: e.text("agent_id"),
                    content: e.text("content"),
                    sent_at: e.event.recorded_at,
                    edits: changes
                        .iter()
                        .filter(|c| c.event.event_type == "MessageEdited")
                        .map(|c| ExportEdit {
                            content: c.text("content"),
                            edited_at: c.event.recorded_at,
                        })
                        .collect(),
                    deleted_at: changes
                        .iter()
                        .find(|c| c.event.event_type == "MessageDeleted")
                        .map(|c| c.event.recorded_at),
                    message_id: id,
                }
            })
            .collect();

        let usage = held
            .usage
            .iter()
            .map(|e| ExportUsage {
                project_id: e.event.aggregate_id.clone(),
                agent_id: e.text("agent_id"),
                model: e.text("model"),
                input_tokens: e.data().get("input_tokens").and_then(Value::as_i64),
                output_tokens: e.data().get("output_tokens").and_then(Value::as_i64),
                cost_usd: e.text("cost_usd"),
                recorded_at: e.event.recorded_at,
            })
            .collect();

        let preference_events = held.preferences;
        let current = if preference_events.is_empty() {
            None
        } else {
            let payloads = preference_events.iter().map(|e| e.event.payload.clone());
            Some(
                zekka_domain::replay::state_after("Preferences", payloads)
                    .map_err(|error| Problem::internal(&error))?,
            )
        };

        let invitations_received = invitations_received(&held.invitations_received);
        let invitations_sent = held
            .invitations_sent
            .iter()
            .map(|sent| ExportInvitationSent {
                invitation_id: sent.text("invitation_id").unwrap_or_default(),
                project_id: sent.event.aggregate_id.clone(),
                role: sent.text("role"),
                sent_at: sent.event.recorded_at,
                expires_at: sent.text("expires_at"),
            })
            .collect();
        let elsewhere = kept_elsewhere(&**client, me, &profile.email)
            .await
            .map_err(Problem::from_db)?;

        Ok(Json(Export {
            invitations_received,
            invitations_sent,
            mail: elsewhere.mail,
            remembered_requests: elsewhere.remembered_requests,
            pending_webhook_messages: elsewhere.pending_webhook_messages,
            sources_uploaded: elsewhere.sources_uploaded,
            format: FORMAT.to_owned(),
            exported_at: Utc::now(),
            profile,
            account_events: account.iter().map(|event| event.export(me)).collect(),
            sessions,
            projects,
            conversations_started,
            messages,
            usage,
            preferences: ExportPreferences {
                current,
                events: preference_events.iter().map(|event| event.export(me)).collect(),
            },
        }))
    }
}
