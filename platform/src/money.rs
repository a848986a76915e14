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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_always_show_six_decimals() {
        assert_eq!(to_wire(Decimal::new(45, 4)), "0.004500");
        assert_eq!(to_wire(Decimal::from(100)), "100.000000");
        assert_eq!(to_wire(Decimal::ZERO), "0.000000");
    }
}
