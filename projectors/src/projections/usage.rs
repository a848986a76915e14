//! `usage`: every token-usage record with its exact cost (`rm_usage`), the
//! source of cost and token analytics, and its rollups: per project, UTC day,
//! model and agent (`rm_usage_daily`) and per task (`rm_task_usage`), so
//! analytics read a row per day instead of every record. Usage is the bulk
//! of the stream, so a batch is one multi-row insert and one upsert per
//! rollup, summed here first; a rebuild loads the records alone, with
//! `COPY` (binary), and derives the rollups once at the end.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Transaction;
use rust_decimal::Decimal;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use uuid::Uuid;
use zekka_domain::project::ProjectEvent;
use zekka_event_store::event_log::StoredEvent;

use super::{decode, uuid_of};
use crate::projection::{Projection, ProjectionError};

/// The `usage` read model.
pub struct UsageProjection {
    /// How each batch is written.
    writing: Writing,
}

/// How [`UsageProjection`] writes a batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writing {
    /// Records (one multi-row insert) and rollups, batch by batch.
    Live,
    /// Records alone, by `COPY`: a rebuild's batches are ten thousand
    /// records, which `COPY` loads in about half the time of an insert
    /// from arrays, and a batch of a long history touches nearly as many
    /// rollup rows as it has records, so the rollups are derived once at
    /// the end ([`Projection::finish_rebuild`]).
    Rebuild,
}

impl UsageProjection {
    /// The live projection: records and rollups, batch by batch.
    pub fn live() -> Self {
        Self {
            writing: Writing::Live,
        }
    }
}

/// The columns of `rm_usage`, in the order [`Rows`] writes them.
const RECORD_COLUMNS: &str =
    "usage_id, project_id, agent_id, model, input_tokens, output_tokens, conversation_id,
     task_id, input_usd_per_million, output_usd_per_million, cost_usd, recorded_at,
     input_cost_usd, output_cost_usd";

/// Their types, for binary `COPY` (which must match the table's exactly).
const RECORD_TYPES: [Type; 14] = [
    Type::UUID,
    Type::UUID,
    Type::UUID,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::UUID,
    Type::UUID,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::TIMESTAMPTZ,
    Type::NUMERIC,
    Type::NUMERIC,
];

/// The rollups of every record in `rm_usage`, as migration 0020 first built them.
const DERIVE_ROLLUPS: &str = "
    TRUNCATE rm_usage_daily, rm_task_usage;
    INSERT INTO rm_usage_daily
    SELECT project_id, (recorded_at AT TIME ZONE 'UTC')::date, model, agent_id, count(*),
           sum(input_tokens), sum(output_tokens), sum(cost_usd), sum(input_cost_usd), sum(output_cost_usd)
      FROM rm_usage GROUP BY 1, 2, 3, 4;
    INSERT INTO rm_task_usage
    SELECT task_id, count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd)
      FROM rm_usage WHERE task_id IS NOT NULL GROUP BY 1;";

/// Sums of some usage records.
#[derive(Default, Clone, Copy)]
struct Sums {
    records: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost_usd: Decimal,
    input_cost_usd: Decimal,
    output_cost_usd: Decimal,
}

impl Sums {
    fn add(
        &mut self,
        input_tokens: i64,
        output_tokens: i64,
        cost: Decimal,
        input_cost: Decimal,
        output_cost: Decimal,
    ) {
        self.records += 1;
        self.input_tokens = self.input_tokens.saturating_add(input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(output_tokens);
        self.cost_usd += cost;
        self.input_cost_usd += input_cost;
        self.output_cost_usd += output_cost;
    }
}

/// A rollup row's key: project, UTC day, model, agent.
type DayKey = (Uuid, NaiveDate, String, Uuid);

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
    daily: HashMap<DayKey, Sums>,
    by_task: HashMap<Uuid, Sums>,
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
            let project_id = uuid_of(&event.aggregate_id)?;
            let (input, output) = (
                i64::try_from(input_tokens).unwrap_or(i64::MAX),
                i64::try_from(output_tokens).unwrap_or(i64::MAX),
            );
            let day = event.recorded_at.date_naive();
            self.daily
                .entry((project_id, day, model.clone(), agent_id))
                .or_default()
                .add(input, output, cost_usd, input_cost_usd, output_cost_usd);
            if let Some(task) = task_id {
                self.by_task.entry(task).or_default().add(
                    input,
                    output,
                    cost_usd,
                    input_cost_usd,
                    output_cost_usd,
                );
            }
            self.usage_id.push(usage_id);
            self.project_id.push(project_id);
            self.agent_id.push(agent_id);
            self.model.push(model);
            self.input_tokens.push(input);
            self.output_tokens.push(output);
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

    /// Writes the batch as `writing` says.
    async fn write(&self, tx: &Transaction<'_>, writing: Writing) -> Result<(), ProjectionError> {
        if self.usage_id.is_empty() {
            return Ok(());
        }
        match writing {
            Writing::Live => {
                self.insert(tx).await?;
                self.roll_up(tx).await
            }
            Writing::Rebuild => self.copy(tx).await,
        }
    }

    /// The records, in one `COPY … (FORMAT binary)`.
    async fn copy(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        let sink = tx
            .copy_in(&format!(
                "COPY rm_usage ({RECORD_COLUMNS}) FROM STDIN (FORMAT binary)"
            ))
            .await?;
        let writer = BinaryCopyInWriter::new(sink, &RECORD_TYPES);
        let mut writer = std::pin::pin!(writer);
        for n in 0..self.usage_id.len() {
            writer
                .as_mut()
                .write(&[
                    &self.usage_id[n],
                    &self.project_id[n],
                    &self.agent_id[n],
                    &self.model[n],
                    &self.input_tokens[n],
                    &self.output_tokens[n],
                    &self.conversation_id[n],
                    &self.task_id[n],
                    &self.input_usd_per_million[n],
                    &self.output_usd_per_million[n],
                    &self.cost_usd[n],
                    &self.recorded_at[n],
                    &self.input_cost_usd[n],
                    &self.output_cost_usd[n],
                ])
                .await?;
        }
        writer.finish().await?;
        Ok(())
    }

    /// The records, in one insert from arrays (one round trip).
    async fn insert(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        let insert = tx
            .prepare_cached(&format!(
                "INSERT INTO rm_usage ({RECORD_COLUMNS})
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[],
                                      $7::uuid[], $8::uuid[], $9::numeric[], $10::numeric[], $11::numeric[],
                                      $12::timestamptz[], $13::numeric[], $14::numeric[])"
            ))
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

    /// Adds the batch's sums to the rollups.
    async fn roll_up(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        let daily = tx
            .prepare_cached(
                "INSERT INTO rm_usage_daily AS r
                    (project_id, day, model, agent_id, records, input_tokens, output_tokens,
                     cost_usd, input_cost_usd, output_cost_usd)
                 SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::uuid[], $5::bigint[],
                                      $6::bigint[], $7::bigint[], $8::numeric[], $9::numeric[], $10::numeric[])
                 ON CONFLICT (project_id, day, model, agent_id) DO UPDATE SET
                    records = r.records + excluded.records,
                    input_tokens = r.input_tokens + excluded.input_tokens,
                    output_tokens = r.output_tokens + excluded.output_tokens,
                    cost_usd = r.cost_usd + excluded.cost_usd,
                    input_cost_usd = r.input_cost_usd + excluded.input_cost_usd,
                    output_cost_usd = r.output_cost_usd + excluded.output_cost_usd",
            )
            .await?;
        let (keys, sums): (Vec<&DayKey>, Vec<&Sums>) = self.daily.iter().unzip();
        let column = |f: fn(&Sums) -> i64| sums.iter().map(|s| f(s)).collect::<Vec<i64>>();
        let money = |f: fn(&Sums) -> Decimal| sums.iter().map(|s| f(s)).collect::<Vec<Decimal>>();
        tx.execute(
            &daily,
            &[
                &keys.iter().map(|k| k.0).collect::<Vec<_>>(),
                &keys.iter().map(|k| k.1).collect::<Vec<_>>(),
                &keys.iter().map(|k| k.2.as_str()).collect::<Vec<_>>(),
                &keys.iter().map(|k| k.3).collect::<Vec<_>>(),
                &column(|s| s.records),
                &column(|s| s.input_tokens),
                &column(|s| s.output_tokens),
                &money(|s| s.cost_usd),
                &money(|s| s.input_cost_usd),
                &money(|s| s.output_cost_usd),
            ],
        )
        .await?;
        if self.by_task.is_empty() {
            return Ok(());
        }
        let by_task = tx
            .prepare_cached(
                "INSERT INTO rm_task_usage AS r (task_id, records, input_tokens, output_tokens, cost_usd)
                 SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::numeric[])
                 ON CONFLICT (task_id) DO UPDATE SET
                    records = r.records + excluded.records,
                    input_tokens = r.input_tokens + excluded.input_tokens,
                    output_tokens = r.output_tokens + excluded.output_tokens,
                    cost_usd = r.cost_usd + excluded.cost_usd",
            )
            .await?;
        let (tasks, sums): (Vec<&Uuid>, Vec<&Sums>) = self.by_task.iter().unzip();
        let column = |f: fn(&Sums) -> i64| sums.iter().map(|s| f(s)).collect::<Vec<i64>>();
        tx.execute(
            &by_task,
            &[
                &tasks,
                &column(|s| s.records),
                &column(|s| s.input_tokens),
                &column(|s| s.output_tokens),
                &sums.iter().map(|s| s.cost_usd).collect::<Vec<_>>(),
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
        &["rm_usage", "rm_usage_daily", "rm_task_usage"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Project"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        let mut rows = Rows::default();
        rows.push(event)?;
        rows.write(tx, self.writing).await
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
        rows.write(tx, self.writing).await
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_usage, rm_usage_daily, rm_task_usage")
            .await?;
        Ok(())
    }

    fn for_rebuild(&self) -> Option<std::sync::Arc<dyn Projection>> {
        Some(std::sync::Arc::new(Self {
            writing: Writing::Rebuild,
        }))
    }

    async fn finish_rebuild(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute(DERIVE_ROLLUPS).await?;
        Ok(())
    }
}
