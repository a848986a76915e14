//! Validated values of the Conversation aggregate.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::shared::text::PlainText;

/// A conversation's title: 1 to 200 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// The longest title accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Validates a title as the client sent it.
    ///
    /// # Errors
    /// When it is blank, too long, or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        PlainText::line("title", raw, Self::MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// The title as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message's text: not blank, at most 64 KiB of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// The largest content accepted, in bytes.
    pub const MAX_BYTES: usize = 64 * 1024;

    /// Validates message content as the client sent it.
    ///
    /// # Errors
    /// When it is blank, larger than 64 KiB, or holds control characters
    /// other than tabs and line breaks.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.trim().is_empty() {
            return Err(FieldError::new("content", "must not be empty"));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(FieldError::new("content", "must be at most 65536 bytes"));
        }
        PlainText::parse("content", raw, Self::MAX_BYTES).map(|t| Self(t.into_string()))
    }

    /// The content as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who speaks in a message.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MessageRole {
    /// A person.
    #[default]
    User,
    /// An AI agent.
    Agent,
    /// The system (notices, summaries).
    System,
}

crate::named::named!(MessageRole => "role");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_limited_to_64_kib_and_must_not_be_blank() {
        assert!(MessageContent::parse(" \n ").is_err());
        assert!(MessageContent::parse(&"x".repeat(65_536)).is_ok());
        assert!(MessageContent::parse(&"x".repeat(65_537)).is_err());
    }

    #[test]
    fn content_refuses_nul_but_keeps_line_breaks() {
        assert!(MessageContent::parse("a\u{0}b").is_err());
        assert_eq!(
            MessageContent::parse("a\r\n\tb").map(|c| c.0),
            Ok("a\r\n\tb".to_owned())
        );
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  Chat ").map(|t| t.0), Ok("Chat".to_owned()));
        assert!(Title::parse("").is_err());
        assert!(Title::parse(&"t".repeat(201)).is_err());
    }

    #[test]
    fn message_roles_parse_by_name() {
        assert_eq!("agent".parse::<MessageRole>(), Ok(MessageRole::Agent));
        assert!("robot".parse::<MessageRole>().is_err());
    }
}
