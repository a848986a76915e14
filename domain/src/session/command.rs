//! What may be asked of a session.

use super::*;

/// Something asked of a session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionCommand {
    /// Start a session after a successful sign-in.
    Start {
        /// The session (family) id, UUIDv7.
        session_id: Uuid,
        /// Whose session it is.
        user_id: Uuid,
        /// Digest of the first refresh token.
        refresh_hash: String,
        /// When that token expires.
        expires_at: DateTime<Utc>,
        /// Where the person signed in from, as the session list shows it.
        client: SignInClient,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Trade the presented refresh token for a new one.
    Refresh {
        /// Digest of the presented token.
        presented_hash: String,
        /// Digest of its replacement.
        new_hash: String,
        /// When the replacement expires.
        expires_at: DateTime<Utc>,
        /// Now.
        now: DateTime<Utc>,
    },
    /// End the session.
    Revoke {
        /// Why.
        reason: RevocationReason,
    },
}
