//! `usage`: every token-usage record with its exact cost (`rm_usage`), the
//! source of cost and token analytics.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::project::ProjectEvent;
use zekka_platform::event_log::StoredEvent;

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `usage` read model.
pub struct UsageProjection;

#[async_trait]
impl Projection for UsageProjection {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_usage"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Project"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.event_type != "TokenUsageRecorded" {
            return Ok(());
        }
        let project_id = uuid_of(&event.aggregate_id)?;
        if let ProjectEvent::TokenUsageRecorded {
            usage_id,
            agent_id,
            model,
            input_tokens,
            output_tokens,
            conversation_id,
            task_id,
            input_usd_per_million,
            output_usd_per_million,
            cost_usd,
            input_cost_usd,
            output_cost_usd,
            ..
        } = serde_json::from_value::<ProjectEvent>(event.payload.clone())?
        {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO rm_usage
                        (usage_id, project_id, agent_id, model, input_tokens, output_tokens, conversation_id,
                         task_id, input_usd_per_million, output_usd_per_million, cost_usd, recorded_at,
                         input_cost_usd, output_cost_usd)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .await?;
            let input = i64::try_from(input_tokens).unwrap_or(i64::MAX);
            let output = i64::try_from(output_tokens).unwrap_or(i64::MAX);
            tx.execute(
                &insert,
                &[
                    &usage_id,
                    &project_id,
                    &agent_id,
                    &model,
                    &input,
                    &output,
                    &conversation_id,
                    &task_id,
                    &input_usd_per_million,
                    &output_usd_per_million,
                    &cost_usd,
                    &event.recorded_at,
                    &input_cost_usd,
                    &output_cost_usd,
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_usage").await?;
        Ok(())
    }
}
