//! Text as commands carry it: the one rule for which characters any text
//! field may hold, so nothing the write side accepts can stop a reader.
//!
//! PostgreSQL's `text` and `jsonb` cannot hold U+0000, and no person reads
//! the other C0/C1 control characters: a message holding one was once
//! accepted (it is sealed, so the event store took it) and then stopped the
//! `conversations` projection for every tenant (security review F1). Every
//! text value of every command is built through [`PlainText`]; the domain's
//! value types (titles, names, descriptions, message content) wrap it.

use crate::error::FieldError;

/// Text that every store and every reader can hold: any Unicode except the
/// control characters (Unicode `Cc`: C0, DEL, C1), of which only tab, line
/// feed and carriage return are allowed, and only in free text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlainText(String);

impl PlainText {
    /// Free text (messages, descriptions, details), kept exactly as sent:
    /// at most `max_chars` characters, line breaks and tabs allowed.
    ///
    /// # Errors
    /// When it holds a control character other than `\t`, `\n`, `\r`, or
    /// is longer than `max_chars`.
    pub fn parse(field: &str, raw: &str, max_chars: usize) -> Result<Self, FieldError> {
        if let Some(c) = raw.chars().find(|c| is_forbidden_control(*c)) {
            return Err(control_character(field, c));
        }
        if raw.chars().count() > max_chars {
            return Err(FieldError::new(
                field,
                format!("must be at most {max_chars} characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// One line of text (names, titles, labels), trimmed: 1 to `max_chars`
    /// characters, no control characters at all, and none of the invisible
    /// formatting characters that make a name read as something else
    /// (bidirectional overrides and isolates, zero-width spaces).
    ///
    /// # Errors
    /// When it is blank, too long, or holds a control or an invisible
    /// formatting character.
    pub fn line(field: &str, raw: &str, max_chars: usize) -> Result<Self, FieldError> {
        let text = raw.trim();
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(control_character(field, c));
        }
        if let Some(c) = text.chars().find(|c| is_invisible_format(*c)) {
            return Err(FieldError::new(
                field,
                format!(
                    "must not contain invisible formatting characters (found U+{:04X})",
                    u32::from(c)
                ),
            ));
        }
        if text.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if text.chars().count() > max_chars {
            return Err(FieldError::new(
                field,
                format!("must be at most {max_chars} characters"),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `c` may not appear in any text: a control character other than
/// tab, line feed and carriage return.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The first forbidden control character of `text`, if any (query
/// parameters and other text read outside a command).
pub fn find_forbidden_control(text: &str) -> Option<char> {
    text.chars().find(|c| is_forbidden_control(*c))
}

/// Whether `c` is an invisible formatting character refused in names:
/// bidirectional marks, embeddings, overrides and isolates, the zero-width
/// space, the word joiner and its invisible operators, the byte-order mark
/// and the Mongolian vowel separator. Zero-width (non-)joiners stay allowed:
/// emoji sequences and several scripts need them.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

fn control_character(field: &str, c: char) -> FieldError {
    FieldError::new(
        field,
        format!(
            "must not contain control characters (found U+{:04X})",
            u32::from(c)
        ),
    )
}

/// A label: an agent's name or kind (`developer`, `reviewer`, …), a task's
/// title, an API key's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    /// The longest label accepted, in characters.
    pub const MAX_CHARS: usize = 100;
    /// The longest task title accepted, in characters.
    pub const TITLE_MAX_CHARS: usize = 200;

    /// Validates `raw` as the field `field` (1 to 100 characters).
    ///
    /// # Errors
    /// When it is blank, too long or holds control characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        PlainText::line(field, raw, Self::MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// Validates a task title (1 to 200 characters).
    ///
    /// # Errors
    /// As [`Label::parse`].
    pub fn title(raw: &str) -> Result<Self, FieldError> {
        PlainText::line("title", raw, Self::TITLE_MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text of up to 10,000 characters (descriptions, status details).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Detail(String);

impl Detail {
    /// The longest detail accepted, in characters.
    pub const MAX_CHARS: usize = 10_000;

    /// Validates `raw` as the field `field`.
    ///
    /// # Errors
    /// When it is longer than 10,000 characters or holds control
    /// characters other than tabs and line breaks.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        PlainText::parse(field, raw, Self::MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_keeps_tabs_and_line_breaks_exactly() {
        let text = "  first line\r\n\tsecond 👩‍👩‍👧 שלום e\u{301}  ";
        assert_eq!(
            PlainText::parse("content", text, 100).map(PlainText::into_string),
            Ok(text.to_owned())
        );
    }

    #[test]
    fn free_text_refuses_nul_and_every_other_c0_and_c1_control() {
        for c in (0_u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            if matches!(c, '\t' | '\n' | '\r') {
                continue;
            }
            let error = PlainText::parse("content", &format!("a{c}b"), 100).expect_err("refused");
            assert_eq!(error.field, "content");
            assert!(error.message.contains("control"), "{error}");
        }
    }

    #[test]
    fn free_text_is_bounded_in_characters_not_bytes() {
        assert!(PlainText::parse("d", &"é".repeat(10), 10).is_ok());
        assert!(PlainText::parse("d", &"é".repeat(11), 10).is_err());
    }

    #[test]
    fn a_line_is_trimmed_not_blank_and_holds_no_line_break() {
        assert_eq!(
            PlainText::line("name", "  Ada  ", 10).map(PlainText::into_string),
            Ok("Ada".to_owned())
        );
        assert!(PlainText::line("name", "   ", 10).is_err());
        assert!(PlainText::line("name", "a\nb", 10).is_err());
        assert!(PlainText::line("name", "a\tb", 10).is_err());
    }

    #[test]
    fn a_line_refuses_bidi_overrides_and_zero_width_spaces_but_keeps_emoji_joiners() {
        assert!(PlainText::line("name", "\u{202e}gnp.exe", 50).is_err());
        assert!(PlainText::line("name", "\u{200b}\u{200b}", 50).is_err());
        assert!(PlainText::line("name", "a\u{2066}b", 50).is_err());
        assert!(PlainText::line("name", "family 👨\u{200d}👩\u{200d}👧", 50).is_ok());
    }
}
