//! Why preferences refuse a command.

use super::*;

/// Why preferences refuse a change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreferencesError {
    /// Unknown keys or invalid values; nothing was changed.
    #[error("{} invalid preference(s)", .0.len())]
    Invalid(Vec<FieldError>),
}

impl Refusal for PreferencesError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            PreferencesError::Invalid(errors) => errors.clone(),
        }
    }
}

impl PreferencesError {
    /// Every field at fault.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            PreferencesError::Invalid(errors) => errors,
        }
    }
}
