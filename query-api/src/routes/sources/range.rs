//! The `Range` header of a download (RFC 9110 §14): one byte range, or
//! the whole content.

use std::ops::Range;

/// What a `Range` header asks of content `size` bytes long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The whole content: no header, several ranges, or one that does not
    /// parse (which a server may ignore).
    Whole,
    /// These bytes.
    Part(Range<u64>),
    /// A range wholly outside the content (416).
    Unsatisfiable,
}

/// Reads `header` against content of `size` bytes.
pub fn wanted(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        // `bytes=-n`: the last n bytes.
        (Err(_), Ok(suffix)) if first.is_empty() => {
            if suffix == 0 || size == 0 {
                return Wanted::Unsatisfiable;
            }
            size.saturating_sub(suffix)..size
        }
        // `bytes=a-`: from a to the end.
        (Ok(start), Err(_)) if last.is_empty() => start..size,
        // `bytes=a-b`, b inclusive and cut at the end.
        (Ok(start), Ok(end)) if start <= end => start..end.saturating_add(1).min(size),
        _ => return Wanted::Whole,
    };
    if range.start >= size {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_range_is_read_as_rfc_9110_says() {
        assert_eq!(wanted(None, 10), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-4"), 10), Wanted::Part(0..5));
        assert_eq!(wanted(Some("bytes=5-"), 10), Wanted::Part(5..10));
        assert_eq!(wanted(Some("bytes=-3"), 10), Wanted::Part(7..10));
        assert_eq!(wanted(Some("bytes=-30"), 10), Wanted::Part(0..10));
        assert_eq!(wanted(Some("bytes=8-100"), 10), Wanted::Part(8..10));
        assert_eq!(wanted(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-1,4-5"), 10), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=5-2"), 10), Wanted::Whole);
        assert_eq!(wanted(Some("items=0-1"), 10), Wanted::Whole);
    }
}
