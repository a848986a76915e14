//! The reason an operator gives, and one skipped event.

use super::*;

/// Why an event is skipped: one to 1,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipReason(PlainText);

impl SkipReason {
    /// The longest reason accepted, in characters.
    pub const MAX_CHARS: usize = 1_000;

    /// Validates a reason as the operator gave it.
    ///
    /// # Errors
    /// When it is blank, too long or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.trim().is_empty() {
            return Err(FieldError::new("reason", "must say why the event is skipped"));
        }
        PlainText::parse("reason", raw.trim(), Self::MAX_CHARS).map(Self)
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A skipped event, as the projection and operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// Its type.
    pub event_type: String,
    /// Why it is skipped.
    pub reason: String,
    /// Who decided.
    pub skipped_by: String,
}
