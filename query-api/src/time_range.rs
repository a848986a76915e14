//! `from` / `to` filters: an RFC 3339 time, or a date (`YYYY-MM-DD`) meaning
//! that whole UTC day. Both ends are inclusive.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use zekka_domain::FieldError;
use zekka_platform::Problem;

/// A half-open interval `[from, until)` (either end open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// The first instant included.
    pub from: Option<DateTime<Utc>>,
    /// The first instant after the range.
    pub until: Option<DateTime<Utc>>,
}

fn parse_bound(field: &str, raw: &str, end: bool) -> Result<DateTime<Utc>, FieldError> {
    let raw = raw.trim();
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end { day.succ_opt().unwrap_or(day) } else { day };
        return day
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| FieldError::new(field, "is not a valid date"));
    }
    let time = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time or a date (YYYY-MM-DD)"))?;
    Ok(if end {
        time + Duration::microseconds(1)
    } else {
        time
    })
}

impl TimeRange {
    /// Parses the `from` and `to` query parameters (empty ones are absent).
    ///
    /// # Errors
    /// 422 naming each malformed end, or when `from` is after `to`.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, Problem> {
        // `?from=` (empty) is no bound, as when the parameter is left out.
        let from = from
            .filter(|f| !f.trim().is_empty())
            .map(|f| parse_bound("from", f, false));
        let until = to
            .filter(|t| !t.trim().is_empty())
            .map(|t| parse_bound("to", t, true));
        let (from, until) = match (from.transpose(), until.transpose()) {
            (Ok(f), Ok(u)) => (f, u),
            (f, u) => {
                let errors = [f.err(), u.err()].into_iter().flatten().map(Into::into).collect();
                return Err(Problem::invalid(errors));
            }
        };
        if let (Some(from), Some(until)) = (from, until)
            && from >= until
        {
            return Err(Problem::invalid_field(FieldError::new(
                "to",
                "must not be before `from`",
            )));
        }
        Ok(Self { from, until })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bounds_are_no_bounds() {
        let range = TimeRange::parse(Some(""), Some("  ")).expect("parses");
        assert_eq!(
            range,
            TimeRange {
                from: None,
                until: None
            }
        );
        assert!(
            TimeRange::parse(Some("soon"), None).is_err(),
            "but nonsense is refused"
        );
    }

    #[test]
    fn a_date_means_the_whole_utc_day_at_both_ends() {
        let range = TimeRange::parse(Some("2026-03-01"), Some("2026-03-01")).expect("parses");
        assert_eq!(
            range.from.map(|t| t.to_rfc3339()),
            Some("2026-03-01T00:00:00+00:00".into())
        );
        assert_eq!(
            range.until.map(|t| t.to_rfc3339()),
            Some("2026-03-02T00:00:00+00:00".into())
        );
    }

    #[test]
    fn times_are_inclusive_and_bad_input_is_refused() {
        let range =
            TimeRange::parse(Some("2026-03-01T10:00:00Z"), Some("2026-03-01T10:00:00Z")).expect("parses");
        assert!(range.from < range.until);
        assert!(TimeRange::parse(Some("yesterday"), None).is_err());
        assert!(TimeRange::parse(Some("2026-02-30"), None).is_err());
        assert!(TimeRange::parse(Some("2026-03-02"), Some("2026-03-01")).is_err());
    }
}
