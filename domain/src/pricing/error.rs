//! Why a price refuses a command.

use super::*;

/// Why a price change is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricingError {
    /// A value is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The new price would apply before one already set: history is never rewritten.
    #[error("a price effective from {latest} is already set; a new price must apply after it")]
    BeforeLatest {
        /// The latest price's start.
        latest: DateTime<Utc>,
    },
}

impl Refusal for PricingError {
    fn kind(&self) -> ErrorKind {
        match self {
            PricingError::Invalid(_) => ErrorKind::Invalid,
            PricingError::BeforeLatest { .. } => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            PricingError::Invalid(e) => vec![e.clone()],
            PricingError::BeforeLatest { .. } => vec![],
        }
    }
}
