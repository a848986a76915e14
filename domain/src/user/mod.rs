//! The User aggregate: a person who signs in. Registration, the failed
//! sign-ins that lock an account, password reset, email verification, and
//! erasure.
//!
//! The password is hashed before a command is built (argon2id is slow on
//! purpose and runs off the async runtime), so the aggregate only ever sees
//! the hash. One-time tokens are kept only as digests.
//!
//! # Layout
//! - [`values`](self::Email): validated values.
//! - `command`, `event`, `error`: what may be asked, what happened, why not.

mod command;
mod error;
mod event;
mod values;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::UserCommand;
pub use error::UserError;
pub use event::UserEvent;
pub use values::{DisplayName, Email, Password, SystemRole};

/// A one-time token the account was sent (its digest only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneTimeToken {
    /// Digest of the token.
    pub hash: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Whether it was used.
    pub used: bool,
}

/// What a user's decisions (and sign-in) need; rebuilt from their events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Set by `UserRegistered`; `None` means no such account.
    pub id: Option<Uuid>,
    /// Their normalised email.
    pub email: String,
    /// The argon2id PHC string of their current password.
    pub password_hash: String,
    /// Failed sign-ins in a row.
    pub failed_logins: u32,
    /// Locked until then, after too many failures.
    pub locked_until: Option<DateTime<Utc>>,
    /// Sessions started up to then are revoked (set by a password reset
    /// or change).
    pub sessions_revoked_at: Option<DateTime<Utc>>,
    /// The session a password change was made in, spared by
    /// `sessions_revoked_at`.
    #[serde(default)]
    pub kept_session: Option<Uuid>,
    /// The name others see.
    #[serde(default)]
    pub display_name: String,
    /// Whether the email address was confirmed.
    pub email_verified: bool,
    /// Password-reset tokens sent.
    pub reset_tokens: Vec<OneTimeToken>,
    /// Verification tokens sent.
    pub verification_tokens: Vec<OneTimeToken>,
    /// The person was erased: the account no longer exists for anyone.
    #[serde(default)]
    pub erased: bool,
    /// System roles an operator granted (`zekka users grant-role`).
    #[serde(default)]
    pub granted_roles: std::collections::BTreeSet<SystemRole>,
}

impl Aggregate for User {
    const TYPE: &'static str = "User";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            UserEvent::UserRegistered {
                user_id,
                email,
                password_hash,
                display_name,
                ..
            } => {
                self.id = Some(user_id);
                self.email = email;
                self.password_hash = password_hash;
                self.display_name = display_name;
            }
            UserEvent::PasswordChanged {
                password_hash,
                sessions_revoked_at,
                kept_session,
            } => {
                self.password_hash = password_hash;
                self.sessions_revoked_at = Some(sessions_revoked_at);
                self.kept_session = kept_session;
            }
            UserEvent::DisplayNameChanged { display_name } => self.display_name = display_name,
            UserEvent::LoginFailed {
                failures,
                locked_until,
            } => {
                self.failed_logins = failures;
                if locked_until.is_some() {
                    self.locked_until = locked_until;
                }
            }
            UserEvent::LoginFailuresCleared {} => {
                self.failed_logins = 0;
                self.locked_until = None;
            }
            UserEvent::PasswordResetRequested {
                token_hash,
                expires_at,
            } => {
                self.reset_tokens.push(OneTimeToken {
                    hash: token_hash,
                    expires_at,
                    used: false,
                });
            }
            UserEvent::PasswordReset {
                password_hash,
                sessions_revoked_at,
                ..
            } => {
                self.password_hash = password_hash;
                self.sessions_revoked_at = Some(sessions_revoked_at);
                self.kept_session = None;
                self.failed_logins = 0;
                self.locked_until = None;
                // Every outstanding reset token dies with the one used.
                for token in &mut self.reset_tokens {
                    token.used = true;
                }
            }
            UserEvent::EmailVerificationRequested {
                token_hash,
                expires_at,
            } => {
                self.verification_tokens.push(OneTimeToken {
                    hash: token_hash,
                    expires_at,
                    used: false,
                });
            }
            UserEvent::EmailVerified { token_hash } => {
                self.email_verified = true;
                if let Some(token) = self.verification_tokens.iter_mut().find(|t| t.hash == token_hash) {
                    token.used = true;
                }
            }
            UserEvent::SystemRoleGranted { role } => {
                self.granted_roles.insert(role);
            }
            UserEvent::SystemRoleRevoked { role } => {
                self.granted_roles.remove(&role);
            }
            UserEvent::UserErased { erased_at } => {
                self.erased = true;
                self.granted_roles.clear();
                self.email.clear();
                self.password_hash.clear();
                self.display_name.clear();
                self.sessions_revoked_at = Some(erased_at);
                self.kept_session = None;
                for token in self.reset_tokens.iter_mut().chain(&mut self.verification_tokens) {
                    token.used = true;
                }
            }
        }
    }
}

crate::sink::decider!(User);

/// Finds `hash` among `tokens` and checks it is still good at `now`.
fn redeem(tokens: &[OneTimeToken], hash: &str, now: DateTime<Utc>) -> Result<(), UserError> {
    let token = tokens
        .iter()
        .find(|t| t.hash == hash)
        .ok_or(UserError::UnknownToken)?;
    if token.used {
        return Err(UserError::TokenUsed);
    }
    if token.expires_at <= now {
        return Err(UserError::TokenExpired);
    }
    Ok(())
}

impl User {
    /// The system roles this person holds: those an operator granted, and
    /// those the configuration names for their email, once it is verified
    /// (an address listed before its owner registered must not make
    /// whoever registers it first an admin).
    pub fn system_roles(&self, admin_emails: &[String], auditor_emails: &[String]) -> Vec<SystemRole> {
        let listed = |emails: &[String]| self.email_verified && emails.contains(&self.email);
        let mut roles = self.granted_roles.clone();
        if listed(admin_emails) {
            roles.insert(SystemRole::Admin);
        }
        if listed(auditor_emails) {
            roles.insert(SystemRole::Auditor);
        }
        roles.into_iter().collect()
    }

    /// Whether a password-reset token with `token_hash` would be accepted at
    /// `now`: the same rule [`UserCommand::ResetPassword`] applies, checked
    /// before the new password is hashed, so a bad token costs no argon2.
    ///
    /// # Errors
    /// As the reset would be refused: unknown, used or expired token, or
    /// no such account.
    pub fn check_reset_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<(), UserError> {
        if self.id.is_none() || self.erased {
            return Err(UserError::UnknownToken);
        }
        redeem(&self.reset_tokens, token_hash, now)
    }

    /// Whether the session `session_id`, started at `started_at`, was ended
    /// by a password reset or change (or an erasure): every session started
    /// up to the cutoff but the one a change was made in.
    pub fn ended_session(&self, session_id: Uuid, started_at: Option<DateTime<Utc>>) -> bool {
        self.sessions_revoked_at.is_some_and(|cutoff| {
            started_at.is_none_or(|started| started <= cutoff) && self.kept_session != Some(session_id)
        })
    }

    /// Until when the account is locked at `now`, if it is.
    pub fn locked_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|until| *until > now)
    }

    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`UserError`] naming the rule the command breaks.
    pub fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
        if self.id.is_none() && !matches!(command, UserCommand::Register { .. }) {
            return Err(UserError::NotFound);
        }
        if self.erased {
            // Erasing again changes nothing; nothing else exists any more.
            return match command {
                UserCommand::Erase { .. } => Ok(vec![]),
                UserCommand::Register { .. } => Err(UserError::AlreadyRegistered),
                _ => Err(UserError::NotFound),
            };
        }
        match command {
            UserCommand::Register {
                user_id,
                email,
                display_name,
                password_hash,
                email_generation,
            } => {
                if self.id.is_some() {
                    return Err(UserError::AlreadyRegistered);
                }
                Ok(vec![UserEvent::UserRegistered {
                    user_id,
                    email: email.as_str().to_owned(),
                    display_name: display_name.as_str().to_owned(),
                    password_hash,
                    email_generation,
                }])
            }
            UserCommand::RecordLoginFailure {
                now,
                threshold,
                lock_for,
            } => {
                let failures = self.failed_logins + 1;
                if failures >= threshold {
                    Ok(vec![UserEvent::LoginFailed {
                        failures: 0,
                        locked_until: Some(now + lock_for),
                    }])
                } else {
                    Ok(vec![UserEvent::LoginFailed {
                        failures,
                        locked_until: None,
                    }])
                }
            }
            UserCommand::RecordLoginSuccess => {
                if self.failed_logins == 0 && self.locked_until.is_none() {
                    Ok(vec![])
                } else {
                    Ok(vec![UserEvent::LoginFailuresCleared {}])
                }
            }
            UserCommand::RequestPasswordReset {
                token_hash,
                expires_at,
            } => Ok(vec![UserEvent::PasswordResetRequested {
                token_hash,
                expires_at,
            }]),
            UserCommand::ResetPassword {
                token_hash,
                password_hash,
                now,
            } => {
                redeem(&self.reset_tokens, &token_hash, now)?;
                Ok(vec![UserEvent::PasswordReset {
                    password_hash,
                    token_hash,
                    sessions_revoked_at: now,
                }])
            }
            UserCommand::ChangePassword {
                password_hash,
                keep_session,
                now,
            } => Ok(vec![UserEvent::PasswordChanged {
                password_hash,
                sessions_revoked_at: now,
                kept_session: keep_session,
            }]),
            UserCommand::ChangeDisplayName { display_name } => {
                Ok(if display_name.as_str() == self.display_name {
                    vec![]
                } else {
                    vec![UserEvent::DisplayNameChanged {
                        display_name: display_name.as_str().to_owned(),
                    }]
                })
            }
            UserCommand::RequestEmailVerification {
                token_hash,
                expires_at,
            } => Ok(vec![UserEvent::EmailVerificationRequested {
                token_hash,
                expires_at,
            }]),
            UserCommand::VerifyEmail { token_hash, now } => {
                redeem(&self.verification_tokens, &token_hash, now)?;
                Ok(vec![UserEvent::EmailVerified { token_hash }])
            }
            UserCommand::GrantSystemRole { role } => Ok(if self.granted_roles.contains(&role) {
                vec![]
            } else {
                vec![UserEvent::SystemRoleGranted { role }]
            }),
            UserCommand::RevokeSystemRole { role } => Ok(if self.granted_roles.contains(&role) {
                vec![UserEvent::SystemRoleRevoked { role }]
            } else {
                vec![]
            }),
            UserCommand::Erase { now } => Ok(vec![UserEvent::UserErased { erased_at: now }]),
        }
    }
}

#[cfg(test)]
mod tests;
