//! The values a source carries: its name, its size limit and its digest.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::shared::text::PlainText;

/// The largest source accepted: 50 MiB (the backend plan's per-file limit).
pub const MAX_SOURCE_BYTES: u64 = 50 * 1024 * 1024;

/// The name of a source or a folder: one line of 1 to 255 characters, with
/// no `/` (folders, not names, make the tree) and no `.`/`..` alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceName(String);

impl SourceName {
    /// The longest name, as most file systems allow.
    pub const MAX_CHARS: usize = 255;

    /// `raw`, trimmed, as the name of `field`.
    ///
    /// # Errors
    /// When it is blank, too long, holds a control character or a `/`, or
    /// is `.` or `..`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let text = PlainText::line(field, raw, Self::MAX_CHARS)?.into_string();
        if text.contains('/') || text.contains('\\') {
            return Err(FieldError::new(field, "must not contain / or \\"));
        }
        if text == "." || text == ".." {
            return Err(FieldError::new(field, "must not be . or .."));
        }
        Ok(Self(text))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SHA-256 digest in lowercase hex: what the content is stored under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// `raw` when it is 64 lowercase hex digits.
    ///
    /// # Errors
    /// When it is not.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.len() == 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new("sha256", "must be 64 lowercase hex digits"))
        }
    }

    /// The digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A media type as `type/subtype`, at most 127 characters, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaType(String);

impl MediaType {
    /// The type of bytes nobody described.
    pub const OCTET_STREAM: &'static str = "application/octet-stream";

    /// `raw` without its parameters (`; charset=…`), lowercased; bytes of
    /// an unreadable type are `application/octet-stream`.
    pub fn parse_or_default(raw: Option<&str>) -> Self {
        let essence = raw
            .and_then(|raw| raw.split(';').next())
            .map(|raw| raw.trim().to_ascii_lowercase())
            .filter(|t| {
                t.len() <= 127
                    && t.split_once('/').is_some_and(|(a, b)| {
                        !a.is_empty()
                            && !b.is_empty()
                            && t.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b"/+-.!#$&^_".contains(&c))
                    })
            });
        Self(essence.unwrap_or_else(|| Self::OCTET_STREAM.to_owned()))
    }

    /// The type.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// File name endings read as text when the bytes came without a type
/// (`application/octet-stream`): what people upload notes and data in.
const TEXT_ENDINGS: [&str; 8] = [
    ".md",
    ".markdown",
    ".txt",
    ".json",
    ".csv",
    ".log",
    ".yaml",
    ".yml",
];

/// Whether a source of `media_type` named `name` is text worth indexing for
/// search: `text/*`, JSON (`application/json`, `…+json`, NDJSON), or bytes
/// of no stated type whose name ends like a text file (`notes.md`).
pub fn is_searchable_text(media_type: &str, name: &str) -> bool {
    let media_type = media_type.to_ascii_lowercase();
    if media_type.starts_with("text/")
        || media_type == "application/json"
        || media_type == "application/x-ndjson"
        || media_type.ends_with("+json")
    {
        return true;
    }
    let name = name.to_ascii_lowercase();
    media_type == MediaType::OCTET_STREAM && TEXT_ENDINGS.iter().any(|ending| name.ends_with(ending))
}
