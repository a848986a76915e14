//! The kinds of domain errors, shared by every aggregate so the API crates map
//! them onto HTTP statuses in one place.

/// What sort of rule a command broke; decides the HTTP status of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A value in the command is not acceptable (HTTP 422).
    Invalid,
    /// The actor may see the aggregate but not do this (HTTP 403).
    Forbidden,
    /// The aggregate does not exist, or the actor may not know it does (HTTP 404).
    NotFound,
    /// The aggregate's current state does not allow this (HTTP 409).
    Conflict,
    /// The credentials presented are not (or no longer) valid (HTTP 401).
    Unauthorized,
    /// A one-time token was already used or has expired (HTTP 410).
    Gone,
    /// The request names something that cannot exist (HTTP 400).
    BadRequest,
    /// The project's budget does not allow this (HTTP 402).
    PaymentRequired,
}

/// A field-level validation failure, for the `errors` list of a problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The JSON field at fault, as the client named it.
    pub field: String,
    /// What is wrong with it, for a person to read.
    pub message: String,
}

impl FieldError {
    /// A failure of `field`, explained by `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A domain error that the API can turn into an answer: every aggregate's
/// error type implements it, so one mapping serves them all.
pub trait Refusal: std::error::Error {
    /// The kind of rule broken, which decides the HTTP status.
    fn kind(&self) -> ErrorKind;

    /// The fields at fault, for validation errors (none by default: most
    /// refusals are about state, not values).
    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}
