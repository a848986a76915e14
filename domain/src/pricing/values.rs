//! Model names, prices and the defaults.

use super::*;

/// The price list every installation starts with (USD per million tokens:
/// model, input, output). `llama3.1:8b` runs locally and costs nothing.
pub const DEFAULT_PRICES: [(&str, i64, i64); 4] = [
    ("gemini-pro", 50, 150),
    ("claude-sonnet", 300, 1500),
    ("gpt-4", 3000, 6000),
    ("llama3.1:8b", 0, 0),
];

/// The default prices as decimals (the integers above are cents).
pub fn default_prices() -> impl Iterator<Item = (&'static str, Decimal, Decimal)> {
    DEFAULT_PRICES
        .into_iter()
        .map(|(model, input, output)| (model, Decimal::new(input, 2), Decimal::new(output, 2)))
}

/// A model's name: 1 to 100 characters of letters, digits and `.:_-/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelName(String);

impl ModelName {
    /// Validates a model name.
    ///
    /// # Errors
    /// When it is empty, too long or holds other characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-' | '/');
        if name.is_empty() || name.len() > 100 || !name.chars().all(allowed) {
            return Err(FieldError::new(
                "model",
                "must be 1 to 100 characters of letters, digits and . : _ - /",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in USD per million tokens: non-negative, at most 6 decimals, below 1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricePerMillion(Decimal);

impl PricePerMillion {
    /// Validates a price given as a decimal string.
    ///
    /// # Errors
    /// When it is not a decimal, negative, too precise or too large.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = crate::shared::money::plain_decimal(raw)
            .ok_or_else(|| FieldError::new(field, "must be a decimal string such as \"3.00\""))?;
        if value.is_sign_negative() && !value.is_zero() {
            return Err(FieldError::new(field, "must not be negative"));
        }
        if value.scale() > 6 {
            return Err(FieldError::new(field, "must have at most 6 decimal places"));
        }
        if value >= Decimal::from(1_000_000) {
            return Err(FieldError::new(field, "must be below 1000000"));
        }
        Ok(Self(value))
    }

    /// The amount.
    pub fn amount(self) -> Decimal {
        self.0
    }
}

/// One price in a model's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// USD per million input tokens.
    pub input_usd_per_million: Decimal,
    /// USD per million output tokens.
    pub output_usd_per_million: Decimal,
    /// From when it applies.
    pub effective_from: DateTime<Utc>,
}

/// `tokens` at `usd_per_million`, exactly (decimal division by 10⁶ only
/// moves the scale).
pub fn per_million(tokens: u64, usd_per_million: Decimal) -> Decimal {
    Decimal::from(tokens) * usd_per_million / Decimal::from(1_000_000)
}

impl Price {
    /// The exact cost of `input` and `output` tokens at this price, unrounded.
    pub fn cost(&self, input: u64, output: u64) -> Decimal {
        self.input_cost(input) + self.output_cost(output)
    }

    /// The exact cost of `input` input tokens, unrounded.
    pub fn input_cost(&self, input: u64) -> Decimal {
        per_million(input, self.input_usd_per_million)
    }

    /// The exact cost of `output` output tokens, unrounded.
    pub fn output_cost(&self, output: u64) -> Decimal {
        per_million(output, self.output_usd_per_million)
    }

    /// Whether this model costs nothing (a local model).
    pub fn is_free(&self) -> bool {
        self.input_usd_per_million.is_zero() && self.output_usd_per_million.is_zero()
    }
}
