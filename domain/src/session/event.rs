//! What happened to a session.

use super::*;

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionEvent {
    /// A user signed in.
    SessionStarted {
        /// The session id.
        session_id: Uuid,
        /// Whose session.
        user_id: Uuid,
        /// Digest of the first refresh token.
        refresh_hash: String,
        /// When it expires.
        expires_at: DateTime<Utc>,
        /// When the session started.
        started_at: DateTime<Utc>,
        /// The address it signed in from (sealed with its user's key: a
        /// person's address is personal data). Absent before December 2026.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_ip: Option<String>,
        /// The user agent it signed in with (sealed likewise).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_agent: Option<String>,
    },
    /// The refresh token was rotated.
    SessionRefreshed {
        /// Digest of the new refresh token.
        refresh_hash: String,
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
    /// The session ended.
    SessionRevoked {
        /// Why.
        reason: RevocationReason,
    },
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> String {
        match self {
            SessionEvent::SessionStarted { .. } => "SessionStarted",
            SessionEvent::SessionRefreshed { .. } => "SessionRefreshed",
            SessionEvent::SessionRevoked { .. } => "SessionRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
