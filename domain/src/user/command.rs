//! Commands of the User aggregate. Time is passed in: the domain has no clock.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::values::{DisplayName, Email, SystemRole};

/// Something asked of an account.
#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// Create the account.
    Register {
        /// The id chosen for the user (UUIDv7).
        user_id: Uuid,
        /// Their email, normalised.
        email: Email,
        /// The name others see.
        display_name: DisplayName,
        /// The argon2id PHC string of their password.
        password_hash: String,
        /// Erased accounts that held this address before.
        email_generation: u32,
    },
    /// A sign-in with a wrong password.
    RecordLoginFailure {
        /// Now.
        now: DateTime<Utc>,
        /// Failures in a row that lock the account.
        threshold: u32,
        /// How long a lock lasts.
        lock_for: Duration,
    },
    /// A sign-in with the right password: the failure count starts again.
    RecordLoginSuccess,
    /// Remember a password-reset token (its digest) for a while.
    RequestPasswordReset {
        /// Digest of the token mailed to the user.
        token_hash: String,
        /// When it stops working.
        expires_at: DateTime<Utc>,
    },
    /// Set a new password with a reset token; ends every session.
    ResetPassword {
        /// Digest of the presented token.
        token_hash: String,
        /// The argon2id PHC string of the new password.
        password_hash: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Set a new password, signed in (the current one was checked by the
    /// caller); ends every other session.
    ChangePassword {
        /// The argon2id PHC string of the new password.
        password_hash: String,
        /// The session the change is made in, which goes on.
        keep_session: Option<Uuid>,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Change the name others see (the same name again changes nothing).
    ChangeDisplayName {
        /// The new name.
        display_name: DisplayName,
    },
    /// Remember an email-verification token (its digest) for a while.
    RequestEmailVerification {
        /// Digest of the token mailed to the user.
        token_hash: String,
        /// When it stops working.
        expires_at: DateTime<Utc>,
    },
    /// Confirm the email address with a verification token.
    VerifyEmail {
        /// Digest of the presented token.
        token_hash: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Give the person a system role (an operator's decision; granting a
    /// role held already changes nothing).
    GrantSystemRole {
        /// The role.
        role: SystemRole,
    },
    /// Take a granted system role back (one not held: nothing changes).
    RevokeSystemRole {
        /// The role.
        role: SystemRole,
    },
    /// Erase the person (GDPR Art. 17); their data key is deleted first.
    Erase {
        /// Now.
        now: DateTime<Utc>,
    },
}
