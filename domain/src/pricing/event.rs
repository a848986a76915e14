//! What happened to a model's price.

use super::*;

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
