//! `usage`: every token-usage record with its exact cost (`rm_usage`), the
//! source of cost and token analytics. Usage is the bulk of the stream, so a
//! batch is written as one multi-row insert.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_domain::project::ProjectEvent;
use zekka_platform::event_log::StoredEvent;

use super::{decode, uuid_of};
use crate::projection::{Projection, ProjectionError};

/// The `usage` read model.
pub struct UsageProjection;

/// A batch of usage rows, column by column (for `unnest`).
#[derive(Default)]
struct Rows {
    usage_id: Vec<Uuid>,
    project_id: Vec<Uuid>,
    agent_id: Vec<Uuid>,
    model: Vec<String>,
    input_tokens: Vec<i64>,
    output_tokens: Vec<i64>,
    conversation_id: Vec<Option<Uuid>>,
    task_id: Vec<Option<Uuid>>,
    input_usd_per_million: Vec<Decimal>,
    output_usd_per_million: Vec<Decimal>,
    cost_usd: Vec<Decimal>,
    recorded_at: Vec<DateTime<Utc>>,
    input_cost_usd: Vec<Decimal>,
    output_cost_usd: Vec<Decimal>,
}

impl Rows {
    /// Adds `event` when it is a usage record.
    fn push(&mut self, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.event_type != "TokenUsageRecorded" {
            return Ok(());
        }
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
        } = decode::<ProjectEvent>(event)?
        {
            self.usage_id.push(usage_id);
            self.project_id.push(uuid_of(&event.aggregate_id)?);
            self.agent_id.push(agent_id);
            self.model.push(model);
            self.input_tokens
                .push(i64::try_from(input_tokens).unwrap_or(i64::MAX));
            self.output_tokens
                .push(i64::try_from(output_tokens).unwrap_or(i64::MAX));
            self.conversation_id.push(conversation_id);
            self.task_id.push(task_id);
            self.input_usd_per_million.push(input_usd_per_million);
            self.output_usd_per_million.push(output_usd_per_million);
            self.cost_usd.push(cost_usd);
            self.recorded_at.push(event.recorded_at);
            self.input_cost_usd.push(input_cost_usd);
            self.output_cost_usd.push(output_cost_usd);
        }
        Ok(())
    }

    async fn insert(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        if self.usage_id.is_empty() {
            return Ok(());
        }
        let insert = tx
            .prepare_cached(
                "INSERT INTO rm_usage
                    (usage_id, project_id, agent_id, model, input_tokens, output_tokens, conversation_id,
                     task_id, input_usd_per_million, output_usd_per_million, cost_usd, recorded_at,
                     input_cost_usd, output_cost_usd)
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[],
                                      $7::uuid[], $8::uuid[], $9::numeric[], $10::numeric[], $11::numeric[],
                                      $12::timestamptz[], $13::numeric[], $14::numeric[])",
            )
            .await?;
        tx.execute(
            &insert,
            &[
                &self.usage_id,
                &self.project_id,
                &self.agent_id,
                &self.model,
                &self.input_tokens,
                &self.output_tokens,
                &self.conversation_id,
                &self.task_id,
                &self.input_usd_per_million,
                &self.output_usd_per_million,
                &self.cost_usd,
                &self.recorded_at,
                &self.input_cost_usd,
                &self.output_cost_usd,
            ],
        )
        .await?;
        Ok(())
    }
}

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
        let mut rows = Rows::default();
        rows.push(event)?;
        rows.insert(tx).await
    }

    async fn apply_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut rows = Rows::default();
        for event in events {
            rows.push(event)?;
        }
        rows.insert(tx).await
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_usage").await?;
        Ok(())
    }
}
