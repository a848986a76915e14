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
