//! Money as the wire carries it: decimal strings, read exactly.

use rust_decimal::Decimal;

/// Reads money as sent over the wire: digits with at most one decimal
/// point, no sign, exponent or separators (`"250.00"`, `".5"`).
pub fn plain_decimal(raw: &str) -> Option<Decimal> {
    let text = raw.trim();
    let plain = text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.chars().filter(|c| *c == '.').count() <= 1
        && text.chars().any(|c| c.is_ascii_digit());
    plain.then(|| Decimal::from_str_exact(text).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_and_one_point_are_money() {
        assert_eq!(plain_decimal(" 250.50 "), Decimal::from_str_exact("250.50").ok());
        assert_eq!(plain_decimal(".5"), Decimal::from_str_exact("0.5").ok());
        for bad in ["-0", "+5", "1e3", "1,000", "1.2.3", ".", ""] {
            assert_eq!(plain_decimal(bad), None, "{bad}");
        }
    }
}
