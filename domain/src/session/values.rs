//! Why a session ended early.

use super::*;

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
    /// Its user changed their password in another session.
    PasswordChanged,
    /// Its user ended it from another session (the session list).
    EndedElsewhere,
}

/// The client a person signed in with, as their session list shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInClient {
    /// The client's address.
    pub ip: Option<String>,
    /// Its `User-Agent`.
    pub user_agent: Option<String>,
}
