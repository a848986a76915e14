//! The ModelPrice aggregate: one per model (its id is the model's name),
//! holding the history of its prices. Usage is priced with the price in force
//! when it is recorded, and the cost is kept in the usage event, so history
//! never changes when prices do.
//!
//! Money is exact: `rust_decimal::Decimal`, USD per million tokens.

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, FieldError, Refusal};

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

/// Something asked of a model's price list.
#[derive(Debug, Clone, PartialEq)]
pub enum PricingCommand {
    /// Set the model's price from `effective_from` on.
    SetPrice {
        /// The model.
        model: ModelName,
        /// USD per million input tokens.
        input: PricePerMillion,
        /// USD per million output tokens.
        output: PricePerMillion,
        /// From when it applies; after every earlier price of the model.
        effective_from: DateTime<Utc>,
    },
}

/// Something that happened to a model's price list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PricingEvent {
    /// A model's price was set.
    ModelPriceSet {
        /// The model.
        model: String,
        /// USD per million input tokens.
        input_usd_per_million: Decimal,
        /// USD per million output tokens.
        output_usd_per_million: Decimal,
        /// From when it applies.
        effective_from: DateTime<Utc>,
    },
}

impl DomainEvent for PricingEvent {
    fn event_type(&self) -> String {
        match self {
            PricingEvent::ModelPriceSet { .. } => "ModelPriceSet".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why a price change is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricingError {
    /// A value is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The new price would apply before one already set: history is never rewritten.
    #[error("a price effective from {latest} is already set; a new price must apply after it")]
    BeforeLatest {
        /// The latest price's start.
        latest: DateTime<Utc>,
    },
}

impl Refusal for PricingError {
    fn kind(&self) -> ErrorKind {
        match self {
            PricingError::Invalid(_) => ErrorKind::Invalid,
            PricingError::BeforeLatest { .. } => ErrorKind::Conflict,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            PricingError::Invalid(e) => vec![e.clone()],
            PricingError::BeforeLatest { .. } => vec![],
        }
    }
}

/// A model's price history, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// The model, once a price is set.
    pub model: Option<String>,
    /// Every price, by `effective_from`.
    pub history: Vec<Price>,
}

impl Aggregate for ModelPrice {
    const TYPE: &'static str = "ModelPrice";
    type Command = PricingCommand;
    type Event = PricingEvent;
    type Error = PricingError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            PricingEvent::ModelPriceSet {
                model,
                input_usd_per_million,
                output_usd_per_million,
                effective_from,
            } => {
                self.model = Some(model);
                self.history.push(Price {
                    input_usd_per_million,
                    output_usd_per_million,
                    effective_from,
                });
            }
        }
    }
}

crate::sink::decider!(ModelPrice);

impl ModelPrice {
    /// The price in force at `at`, if the model had one then.
    pub fn price_at(&self, at: DateTime<Utc>) -> Option<Price> {
        self.history
            .iter()
            .rev()
            .find(|p| p.effective_from <= at)
            .copied()
    }

    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// [`PricingError::BeforeLatest`] when the new price would apply before
    /// the latest one.
    pub fn decide(&self, command: PricingCommand) -> Result<Vec<PricingEvent>, PricingError> {
        match command {
            PricingCommand::SetPrice {
                model,
                input,
                output,
                effective_from,
            } => {
                if let Some(latest) = self.history.last()
                    && latest.effective_from >= effective_from
                {
                    return Err(PricingError::BeforeLatest {
                        latest: latest.effective_from,
                    });
                }
                Ok(vec![PricingEvent::ModelPriceSet {
                    model: model.as_str().to_owned(),
                    input_usd_per_million: input.amount(),
                    output_usd_per_million: output.amount(),
                    effective_from,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0)
            .single()
            .expect("valid date")
    }

    fn set(day: u32, input: &str, output: &str) -> PricingCommand {
        PricingCommand::SetPrice {
            model: ModelName::parse("claude-sonnet").expect("name"),
            input: PricePerMillion::parse("input", input).expect("price"),
            output: PricePerMillion::parse("output", output).expect("price"),
            effective_from: at(day),
        }
    }

    fn price(input: i64, output: i64, day: u32) -> Price {
        Price {
            input_usd_per_million: Decimal::new(input, 2),
            output_usd_per_million: Decimal::new(output, 2),
            effective_from: at(day),
        }
    }

    #[test]
    fn a_million_tokens_each_way_on_claude_sonnet_cost_exactly_18_usd() {
        assert_eq!(price(300, 1500, 1).cost(1_000_000, 1_000_000), Decimal::from(18));
    }

    #[test]
    fn costs_are_exact_to_the_last_digit() {
        let one_token = price(50, 150, 1).cost(1, 0);
        assert_eq!(one_token, Decimal::new(5, 7), "0.0000005 USD");
        let many: Decimal = (0..1000).map(|_| one_token).sum();
        assert_eq!(many, Decimal::new(5, 4));
    }

    #[test]
    fn the_price_in_force_is_the_latest_that_started_before() {
        let mut model = ModelPrice::default();
        for event in [set(1, "3", "15"), set(10, "2", "10")]
            .into_iter()
            .flat_map(|command| ModelPrice::default().decide(command).expect("decides"))
        {
            model.apply(event);
        }
        assert_eq!(model.price_at(at(5)), Some(price(300, 1500, 1)));
        assert_eq!(model.price_at(at(10)), Some(price(200, 1000, 10)));
        assert_eq!(
            model.price_at(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).single().expect("date")),
            None
        );
    }

    #[test]
    fn a_price_cannot_rewrite_history() {
        TestFramework::<ModelPrice>::with(())
            .given(ModelPrice::default().decide(set(10, "3", "15")).expect("decides"))
            .when(set(5, "1", "1"))
            .then_expect_error(PricingError::BeforeLatest { latest: at(10) });
    }

    #[test]
    fn prices_must_be_exact_non_negative_decimals() {
        assert!(PricePerMillion::parse("input", "-1").is_err());
        assert!(PricePerMillion::parse("input", "0.0000001").is_err());
        assert!(PricePerMillion::parse("input", "abc").is_err());
        assert!(PricePerMillion::parse("input", "0").is_ok());
        assert!(ModelName::parse("llama3.1:8b").is_ok());
        assert!(ModelName::parse("no spaces").is_err());
    }
}
