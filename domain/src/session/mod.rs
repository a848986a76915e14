//! The Session aggregate: one signed-in session, i.e. one family of refresh
//! tokens. Each refresh rotates the token; presenting a token the family
//! already rotated away is theft or a bug, and revokes the whole family.
//!
//! Only digests of refresh tokens are ever stored.
//!
//! # Layout
//! - [`command`]: what may be asked of a session.
//! - [`error`]: why a session refuses a command.
//! - [`event`]: what happened to a session.
//! - [`values`]: why a session ended early.

pub mod command;
pub mod error;
pub mod event;
#[cfg(test)]
mod tests;
pub mod values;

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ErrorKind, FieldError, Refusal};

pub use command::*;
pub use error::*;
pub use event::*;
pub use values::*;

/// What a session's decisions need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The session id; `None` until started.
    pub id: Option<Uuid>,
    /// Whose session.
    pub user_id: Option<Uuid>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// Digest of the current refresh token.
    pub refresh_hash: String,
    /// Digests of the tokens rotated away.
    pub previous_hashes: Vec<String>,
    /// When the current token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Why it was revoked, if it was.
    pub revoked: Option<RevocationReason>,
}

impl Aggregate for Session {
    const TYPE: &'static str = "Session";
    type Command = SessionCommand;
    type Event = SessionEvent;
    type Error = SessionError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            SessionEvent::SessionStarted {
                session_id,
                user_id,
                refresh_hash,
                expires_at,
                started_at,
                ..
            } => {
                self.id = Some(session_id);
                self.user_id = Some(user_id);
                self.started_at = Some(started_at);
                self.refresh_hash = refresh_hash;
                self.expires_at = Some(expires_at);
            }
            SessionEvent::SessionRefreshed {
                refresh_hash,
                expires_at,
            } => {
                let old = std::mem::replace(&mut self.refresh_hash, refresh_hash);
                self.previous_hashes.push(old);
                self.expires_at = Some(expires_at);
            }
            SessionEvent::SessionRevoked { reason } => self.revoked = Some(reason),
        }
    }
}

crate::sink::decider!(Session);

impl Session {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`SessionError`] naming the rule the command breaks.
    pub fn decide(&self, command: SessionCommand) -> Result<Vec<SessionEvent>, SessionError> {
        match command {
            SessionCommand::Start {
                session_id,
                user_id,
                refresh_hash,
                expires_at,
                client,
                now,
            } => {
                if self.id.is_some() {
                    return Err(SessionError::AlreadyStarted);
                }
                Ok(vec![SessionEvent::SessionStarted {
                    session_id,
                    user_id,
                    refresh_hash,
                    expires_at,
                    started_at: now,
                    client_ip: client.ip,
                    user_agent: client.user_agent,
                }])
            }
            SessionCommand::Refresh {
                presented_hash,
                new_hash,
                expires_at,
                now,
            } => {
                if self.id.is_none() {
                    return Err(SessionError::NotFound);
                }
                if self.revoked.is_some() {
                    return Err(SessionError::Revoked);
                }
                if presented_hash != self.refresh_hash {
                    return Err(if self.previous_hashes.contains(&presented_hash) {
                        SessionError::TokenReused
                    } else {
                        SessionError::UnknownToken
                    });
                }
                if self.expires_at.is_none_or(|expiry| expiry <= now) {
                    return Err(SessionError::Expired);
                }
                Ok(vec![SessionEvent::SessionRefreshed {
                    refresh_hash: new_hash,
                    expires_at,
                }])
            }
            SessionCommand::Revoke { reason } => {
                if self.id.is_none() {
                    return Err(SessionError::NotFound);
                }
                if self.revoked.is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![SessionEvent::SessionRevoked { reason }])
            }
        }
    }
}
