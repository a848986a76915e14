//! Events of the User aggregate. Names and fields are a persisted contract;
//! the `email` of `UserRegistered` is indexed for uniqueness.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Something that happened to an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserEvent {
    /// An account was created.
    UserRegistered {
        /// The user's id.
        user_id: Uuid,
        /// Their email, trimmed and lower-cased.
        email: String,
        /// The name others see.
        display_name: String,
        /// The argon2id PHC string of their password.
        password_hash: String,
        /// How many erased accounts held this address before: the blind
        /// index of the email is re-keyed with it, so an erased person's
        /// address may register again (absent: 0).
        #[serde(default, skip_serializing_if = "is_zero")]
        email_generation: u32,
    },
    /// A sign-in failed; at the threshold the account locks.
    LoginFailed {
        /// Failures in a row after this one (0 once it locked the account).
        failures: u32,
        /// Set when this failure locked the account.
        locked_until: Option<DateTime<Utc>>,
    },
    /// A sign-in succeeded after failures; the count starts again.
    LoginFailuresCleared {},
    /// A password reset was requested; the token's digest is kept.
    PasswordResetRequested {
        /// Digest of the mailed token.
        token_hash: String,
        /// When it stops working.
        expires_at: DateTime<Utc>,
    },
    /// The password was reset with a token; sessions up to now are revoked.
    PasswordReset {
        /// The new argon2id PHC string.
        password_hash: String,
        /// Digest of the token used (now spent).
        token_hash: String,
        /// Sessions started up to this moment are revoked.
        sessions_revoked_at: DateTime<Utc>,
    },
    /// The person changed their password, signed in; every other session
    /// of theirs ends.
    PasswordChanged {
        /// The new argon2id PHC string.
        password_hash: String,
        /// Sessions started up to this moment are revoked…
        sessions_revoked_at: DateTime<Utc>,
        /// …but the one the change was made in.
        kept_session: Option<Uuid>,
    },
    /// The person changed the name others see.
    DisplayNameChanged {
        /// The new name.
        display_name: String,
    },
    /// Email verification was requested; the token's digest is kept.
    EmailVerificationRequested {
        /// Digest of the mailed token.
        token_hash: String,
        /// When it stops working.
        expires_at: DateTime<Utc>,
    },
    /// The email address was confirmed.
    EmailVerified {
        /// Digest of the token used.
        token_hash: String,
    },
    /// An operator granted the person a system role.
    SystemRoleGranted {
        /// The role.
        role: super::SystemRole,
    },
    /// An operator took a system role back.
    SystemRoleRevoked {
        /// The role.
        role: super::SystemRole,
    },
    /// The person asked to be erased: their data key is deleted, so every
    /// sealed value of theirs now reads as erased; the account is gone and
    /// its sessions end.
    UserErased {
        /// When.
        erased_at: DateTime<Utc>,
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            UserEvent::UserRegistered { .. } => "UserRegistered",
            UserEvent::LoginFailed { .. } => "LoginFailed",
            UserEvent::LoginFailuresCleared { .. } => "LoginFailuresCleared",
            UserEvent::PasswordResetRequested { .. } => "PasswordResetRequested",
            UserEvent::PasswordReset { .. } => "PasswordReset",
            UserEvent::PasswordChanged { .. } => "PasswordChanged",
            UserEvent::DisplayNameChanged { .. } => "DisplayNameChanged",
            UserEvent::EmailVerificationRequested { .. } => "EmailVerificationRequested",
            UserEvent::EmailVerified { .. } => "EmailVerified",
            UserEvent::SystemRoleGranted { .. } => "SystemRoleGranted",
            UserEvent::SystemRoleRevoked { .. } => "SystemRoleRevoked",
            UserEvent::UserErased { .. } => "UserErased",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Whether a generation is the first (then it is not stored).
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}
