//! Why a session refuses a command.

use super::*;

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
