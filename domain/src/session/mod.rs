//! The Session aggregate: one signed-in session, i.e. one family of refresh
//! tokens. Each refresh rotates the token; presenting a token the family
//! already rotated away is theft or a bug, and revokes the whole family.
//!
//! Only digests of refresh tokens are ever stored.

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ErrorKind, FieldError, Refusal};

/// Why a session ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// Its user signed out.
    Logout,
    /// A rotated refresh token was presented again.
    RefreshTokenReuse,
    /// Its user's password was reset.
    PasswordReset,
}

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

/// Why a session refuses a command. Every refusal of a refresh is a 401.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    /// The session id is taken.
    #[error("the session already exists")]
    AlreadyStarted,
    /// No such session.
    #[error("the refresh token is invalid")]
    NotFound,
    /// The token is not this family's current one nor an earlier one.
    #[error("the refresh token is invalid")]
    UnknownToken,
    /// The presented token was already rotated away: the family must be revoked.
    #[error("the refresh token was already used; the session has been revoked")]
    TokenReused,
    /// The current token expired.
    #[error("the refresh token has expired")]
    Expired,
    /// The session was revoked.
    #[error("the session has been revoked")]
    Revoked,
}

impl Refusal for SessionError {
    fn kind(&self) -> ErrorKind {
        match self {
            SessionError::AlreadyStarted => ErrorKind::Conflict,
            _ => ErrorKind::Unauthorized,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        vec![]
    }
}

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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    const SESSION: Uuid = Uuid::from_u128(5);
    const USER: Uuid = Uuid::from_u128(6);

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn started() -> SessionEvent {
        SessionEvent::SessionStarted {
            session_id: SESSION,
            user_id: USER,
            refresh_hash: "h1".into(),
            expires_at: at(10),
            started_at: at(1),
        }
    }

    fn refresh(presented: &str, now: DateTime<Utc>) -> SessionCommand {
        SessionCommand::Refresh {
            presented_hash: presented.into(),
            new_hash: "h-next".into(),
            expires_at: at(20),
            now,
        }
    }

    #[test]
    fn the_current_token_is_rotated() {
        TestFramework::<Session>::with(())
            .given(vec![started()])
            .when(refresh("h1", at(2)))
            .then_expect_events(vec![SessionEvent::SessionRefreshed {
                refresh_hash: "h-next".into(),
                expires_at: at(20),
            }]);
    }

    #[test]
    fn presenting_a_rotated_token_is_reuse() {
        TestFramework::<Session>::with(())
            .given(vec![
                started(),
                SessionEvent::SessionRefreshed {
                    refresh_hash: "h2".into(),
                    expires_at: at(12),
                },
            ])
            .when(refresh("h1", at(3)))
            .then_expect_error(SessionError::TokenReused);
    }

    #[test]
    fn an_unknown_token_is_refused() {
        TestFramework::<Session>::with(())
            .given(vec![started()])
            .when(refresh("forged", at(2)))
            .then_expect_error(SessionError::UnknownToken);
    }

    #[test]
    fn an_expired_token_is_refused() {
        TestFramework::<Session>::with(())
            .given(vec![started()])
            .when(refresh("h1", at(11)))
            .then_expect_error(SessionError::Expired);
    }

    #[test]
    fn a_revoked_session_cannot_refresh() {
        TestFramework::<Session>::with(())
            .given(vec![
                started(),
                SessionEvent::SessionRevoked {
                    reason: RevocationReason::Logout,
                },
            ])
            .when(refresh("h1", at(2)))
            .then_expect_error(SessionError::Revoked);
    }

    #[test]
    fn revoking_twice_records_it_once() {
        TestFramework::<Session>::with(())
            .given(vec![
                started(),
                SessionEvent::SessionRevoked {
                    reason: RevocationReason::Logout,
                },
            ])
            .when(SessionCommand::Revoke {
                reason: RevocationReason::RefreshTokenReuse,
            })
            .then_expect_events(vec![]);
    }
}
