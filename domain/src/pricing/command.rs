//! What may be asked of a model's price.

use super::*;

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
