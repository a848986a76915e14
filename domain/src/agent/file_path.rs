//! The path of a file agents lock or report a conflict on.

use crate::error::FieldError;
use crate::shared::text::PlainText;

/// A file's path within a project, in one normal form, so one file is one
/// lock: `./src//a.rs`, `src/./a.rs` and `src/b/../a.rs` are all `src/a.rs`.
/// Case is kept (file systems differ on it). A path that climbs out of the
/// project (`../a.rs`) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePath(String);

impl FilePath {
    /// The longest path accepted, in characters.
    pub const MAX_CHARS: usize = 1024;

    /// Validates and normalises `raw` as the field `field`.
    ///
    /// # Errors
    /// When it is blank, too long, holds control characters, names no file
    /// (`.`, `/`) or climbs out of the project.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let text = PlainText::line(field, raw, Self::MAX_CHARS)?;
        let mut parts: Vec<&str> = Vec::new();
        for part in text.as_str().split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(FieldError::new(
                            field,
                            "must stay inside the project (no leading ..)",
                        ));
                    }
                }
                part => parts.push(part),
            }
        }
        if parts.is_empty() {
            return Err(FieldError::new(field, "must name a file"));
        }
        Ok(Self(parts.join("/")))
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(raw: &str) -> Result<String, FieldError> {
        FilePath::parse("file_path", raw).map(|p| p.0)
    }

    #[test]
    fn spellings_of_one_file_share_one_normal_form() {
        for raw in [
            "src/alias.rs",
            "./src/alias.rs",
            "src//alias.rs",
            "/src/alias.rs",
            "src/x/../alias.rs",
            " src\\alias.rs ",
        ] {
            assert_eq!(normal(raw), Ok("src/alias.rs".to_owned()), "{raw}");
        }
        assert_eq!(normal("SRC/alias.rs"), Ok("SRC/alias.rs".to_owned()));
    }

    #[test]
    fn paths_outside_the_project_or_naming_nothing_are_refused() {
        for raw in ["../etc/passwd", "a/../../b", ".", "/", "", "a\u{0}b"] {
            assert!(normal(raw).is_err(), "{raw:?}");
        }
    }
}
