//! Money on the wire: exact decimal strings in USD with six decimals
//! (`"0.004500"`), never floats.

use rust_decimal::Decimal;

/// Decimal places of every amount on the wire (micro-dollars).
pub const SCALE: u32 = 6;

/// Formats an amount for JSON: rounded half-even to six decimals, always six shown.
pub fn to_wire(amount: Decimal) -> String {
    let mut rounded = amount.round_dp(SCALE);
    rounded.rescale(SCALE);
    rounded.to_string()
}

/// A share `part / whole` (0 to 1) in the same six-decimal form, for rates
/// shown beside amounts; `None` when `whole` is zero (no rate yet).
pub fn share(part: i64, whole: i64) -> Option<String> {
    (whole != 0).then(|| to_wire(Decimal::from(part) / Decimal::from(whole)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_always_show_six_decimals() {
        assert_eq!(to_wire(Decimal::new(45, 4)), "0.004500");
        assert_eq!(to_wire(Decimal::from(100)), "100.000000");
        assert_eq!(to_wire(Decimal::ZERO), "0.000000");
    }

    #[test]
    fn a_share_is_exact_to_six_decimals_and_absent_without_a_whole() {
        assert_eq!(share(1, 3).as_deref(), Some("0.333333"));
        assert_eq!(share(2, 2).as_deref(), Some("1.000000"));
        assert_eq!(share(0, 0), None);
    }
}
