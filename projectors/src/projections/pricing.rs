//! `pricing`: every price of every model (`rm_model_prices`).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::pricing::PricingEvent;
use zekka_event_store::event_log::StoredEvent;

use crate::projection::{Projection, ProjectionError};

/// The `pricing` read model.
pub struct PricingProjection;

#[async_trait]
impl Projection for PricingProjection {
    fn name(&self) -> &'static str {
        "pricing"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_model_prices"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["ModelPrice"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        match super::decode::<PricingEvent>(event)? {
            PricingEvent::ModelPriceSet {
                model,
                input_usd_per_million,
                output_usd_per_million,
                effective_from,
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_model_prices
                            (model, effective_from, input_usd_per_million, output_usd_per_million, set_at)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &model,
                        &effective_from,
                        &input_usd_per_million,
                        &output_usd_per_million,
                        &event.recorded_at,
                    ],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_model_prices").await?;
        Ok(())
    }
}
