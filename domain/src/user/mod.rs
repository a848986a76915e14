//! The User aggregate: a person who signs in. For now it only registers;
//! sessions, lockout and verification build on it.
//!
//! The password is hashed before the command is built (argon2id is slow on
//! purpose and runs off the async runtime), so the aggregate only ever sees
//! the hash.

mod values;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ErrorKind, FieldError, Refusal};

pub use values::{DisplayName, Email, Password};

/// Something a person asks of their account.
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
    },
}

/// Something that happened to an account. Names and fields are a persisted
/// contract; the `email` field of `UserRegistered` is indexed for uniqueness.
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
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            UserEvent::UserRegistered { .. } => "UserRegistered".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why the User aggregate refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserError {
    /// A value in the command is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// This account id is taken.
    #[error("the account already exists")]
    AlreadyRegistered,
}

impl Refusal for UserError {
    fn kind(&self) -> ErrorKind {
        match self {
            UserError::Invalid(_) => ErrorKind::Invalid,
            UserError::AlreadyRegistered => ErrorKind::Conflict,
        }
    }

    fn field_error(&self) -> Option<FieldError> {
        match self {
            UserError::Invalid(e) => Some(e.clone()),
            UserError::AlreadyRegistered => None,
        }
    }
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
}

impl Aggregate for User {
    const TYPE: &'static str = "User";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let events = self.decide(command)?;
        crate::sink::emit(self, sink, events).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            UserEvent::UserRegistered {
                user_id,
                email,
                password_hash,
                ..
            } => {
                self.id = Some(user_id);
                self.email = email;
                self.password_hash = password_hash;
            }
        }
    }
}

impl User {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`UserError`] naming the rule the command breaks.
    pub fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
        match command {
            UserCommand::Register {
                user_id,
                email,
                display_name,
                password_hash,
            } => {
                if self.id.is_some() {
                    return Err(UserError::AlreadyRegistered);
                }
                Ok(vec![UserEvent::UserRegistered {
                    user_id,
                    email: email.as_str().to_owned(),
                    display_name: display_name.as_str().to_owned(),
                    password_hash,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    const ALICE: Uuid = Uuid::from_u128(7);

    fn register() -> UserCommand {
        UserCommand::Register {
            user_id: ALICE,
            email: Email::parse(" Alice@Example.COM ").expect("valid email"),
            display_name: DisplayName::parse("Alice").expect("valid name"),
            password_hash: "$argon2id$stub".into(),
        }
    }

    #[test]
    fn registering_records_the_normalised_email_and_the_hash() {
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(register())
            .then_expect_events(vec![UserEvent::UserRegistered {
                user_id: ALICE,
                email: "alice@example.com".into(),
                display_name: "Alice".into(),
                password_hash: "$argon2id$stub".into(),
            }]);
    }

    #[test]
    fn registering_the_same_account_twice_is_rejected() {
        let history = User::default().decide(register()).expect("first registration");
        TestFramework::<User>::with(())
            .given(history)
            .when(register())
            .then_expect_error(UserError::AlreadyRegistered);
    }
}
