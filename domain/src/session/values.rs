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
}
