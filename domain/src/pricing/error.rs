//! Why a price refuses a command.

use super::*;

/// Why a price change is refused.
/// (Prices arrive parsed — [`ModelName`], [`Price`] — so no value is
/// refused here.)
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricingError {
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
            PricingError::BeforeLatest { .. } => ErrorKind::Conflict,
        }
    }
}
