//! The shapes of domain values as JSON Schema states them, for the HTTP
//! layer's OpenAPI document: written next to the rules they restate.

/// Short text as [`crate::agent::Label`], project names, titles and display
/// names accept it: some character that is neither white space nor a
/// control character (Unicode `Cc`), and no control characters at all.
pub const SHORT_TEXT_PATTERN: &str =
    r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";

/// Characters short text may not hold (Unicode `Cc`), as a class body.
pub const CONTROL_CHARACTERS: &str = r"\u0000-\u001f\u007f-\u009f";
