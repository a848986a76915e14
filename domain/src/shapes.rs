//! The shapes of domain values as JSON Schema states them, for the HTTP
//! layer's OpenAPI document: written next to the rules they restate
//! ([`crate::shared::text`] for text).

/// Characters short text may not hold (Unicode `Cc`), as a class body.
pub const CONTROL_CHARACTERS: &str = r"\u0000-\u001f\u007f-\u009f";

/// Control characters free text may not hold: `Cc` but tab, line feed and
/// carriage return ([`crate::shared::text::is_forbidden_control`]), as a class body.
pub const FORBIDDEN_CONTROLS: &str = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f";

/// The invisible formatting characters names may not hold
/// ([`crate::shared::text::is_invisible_format`]), as a class body.
pub const INVISIBLE_FORMATS: &str =
    r"\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff";

/// Short text as [`crate::shared::text::PlainText::line`] accepts it (names,
/// titles, labels): some character that is neither white space nor a
/// control or invisible formatting character, and none of those at all.
pub const SHORT_TEXT_PATTERN: &str = concat!(
    r"^[^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*",
    r"[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]",
    r"[^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*$"
);

/// Free text as [`crate::shared::text::PlainText::parse`] accepts it
/// (descriptions, details, message content): no forbidden control.
pub const FREE_TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$";

/// Free text that is not blank (message content, conflict descriptions).
pub const NON_BLANK_TEXT_PATTERN: &str = concat!(
    r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*",
    r"[^\s\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]",
    r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The patterns say what the classes say, spelled out (the constants
    /// cannot be spliced into `concat!`).
    #[test]
    fn the_patterns_are_made_of_the_classes() {
        let short = format!(
            "^[^{CONTROL_CHARACTERS}{INVISIBLE_FORMATS}]*[^\\s{CONTROL_CHARACTERS}{INVISIBLE_FORMATS}][^{CONTROL_CHARACTERS}{INVISIBLE_FORMATS}]*$"
        );
        assert_eq!(SHORT_TEXT_PATTERN, short);
        assert_eq!(FREE_TEXT_PATTERN, format!("^[^{FORBIDDEN_CONTROLS}]*$"));
        assert_eq!(
            NON_BLANK_TEXT_PATTERN,
            format!("^[^{FORBIDDEN_CONTROLS}]*[^\\s{FORBIDDEN_CONTROLS}][^{FORBIDDEN_CONTROLS}]*$")
        );
    }
}
