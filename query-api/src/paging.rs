//! `?limit=` and `?cursor=` paging (CONTRACT.md's list convention).

use zekka_domain::FieldError;
use zekka_platform::Problem;
pub use zekka_platform::input::PageLimit;

/// Items per page when the client names no limit.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page served; larger limits are lowered to it.
pub const MAX_LIMIT: i64 = 200;

/// The page size asked for, checked and capped.
///
/// # Errors
/// 422 when the limit is below 1.
pub fn limit(raw: Option<PageLimit>) -> Result<i64, Problem> {
    match raw.map(|limit| limit.0) {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if n < 1 => Err(Problem::invalid_field(FieldError::new(
            "limit",
            "must be at least 1",
        ))),
        Some(n) => Ok(n.min(MAX_LIMIT)),
    }
}

/// Parses a cursor that is the id of the last item of the previous page.
///
/// # Errors
/// 400 for a cursor this server did not issue.
pub fn uuid_cursor(cursor: Option<&str>) -> Result<Option<uuid::Uuid>, Problem> {
    cursor
        .map(|c| {
            uuid::Uuid::parse_str(c).map_err(|_| Problem::bad_request("cursor is not one this server issued"))
        })
        .transpose()
}

/// Splits one extra fetched row off `rows` (queries fetch `limit + 1`) and
/// returns the page and the cursor of its last item when more follow.
pub fn page<T>(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(cursor_of);
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_50_and_are_capped_at_200() {
        assert_eq!(limit(None).ok(), Some(50));
        assert_eq!(limit(Some(zekka_platform::input::Bounded(1000))).ok(), Some(200));
        assert!(limit(Some(zekka_platform::input::Bounded(0))).is_err());
    }

    #[test]
    fn a_cursor_is_given_only_when_more_rows_follow() {
        assert_eq!(
            page(vec![1, 2, 3], 2, |n| n.to_string()),
            (vec![1, 2], Some("2".to_owned()))
        );
        assert_eq!(page(vec![1, 2], 2, |n| n.to_string()), (vec![1, 2], None));
    }
}
