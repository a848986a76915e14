//! Why the User aggregate refuses a command.

use crate::error::{ErrorKind, Refusal};

/// A rule of the User aggregate that a command broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserError {
    /// This account id is taken.
    #[error("the account already exists")]
    AlreadyRegistered,
    /// No such account.
    #[error("no such account")]
    NotFound,
    /// The one-time token is not one this account was sent.
    #[error("the token is invalid")]
    UnknownToken,
    /// The one-time token was used already.
    #[error("the token has already been used")]
    TokenUsed,
    /// The one-time token has expired.
    #[error("the token has expired")]
    TokenExpired,
}

impl Refusal for UserError {
    fn kind(&self) -> ErrorKind {
        match self {
            UserError::AlreadyRegistered => ErrorKind::Conflict,
            UserError::NotFound | UserError::UnknownToken => ErrorKind::BadRequest,
            UserError::TokenUsed | UserError::TokenExpired => ErrorKind::Gone,
        }
    }
}
