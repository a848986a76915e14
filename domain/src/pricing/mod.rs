//! The ModelPrice aggregate: one per model (its id is the model's name),
//! holding the history of its prices. Usage is priced with the price in force
//! when it is recorded, and the cost is kept in the usage event, so history
//! never changes when prices do.
//!
//! Money is exact: `rust_decimal::Decimal`, USD per million tokens.
//!
//! # Layout
//! - [`command`]: what may be asked of a model's price.
//! - [`error`]: why a price refuses a command.
//! - [`event`]: what happened to a model's price.
//! - [`values`]: model names, prices and the defaults.

pub mod command;
pub mod error;
pub mod event;
#[cfg(test)]
mod tests;
pub mod values;

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, FieldError, Refusal};

pub use command::*;
pub use error::*;
pub use event::*;
pub use values::*;

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
