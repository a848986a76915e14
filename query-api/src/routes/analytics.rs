//! Analytics over the caller's projects (or one of them): totals, cost and
//! tokens by day and model, per agent, per task, and re-pricing. Money is
//! summed exactly in SQL (`numeric`) and shown with six decimals.

use std::sync::Arc;
use zekka_event_store::database::CachedQueries;

use chrono::{DateTime, NaiveDate, Utc};
use poem::Request;
use poem_openapi::param::{Header, Query};
use poem_openapi::{Object, OpenApi};
use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::TokenHeader;
use zekka_platform::input::{Text, TimeBound};
use zekka_platform::{Problem, money};

use super::QueryTags;
use crate::rows;
use crate::state::QueryState;
use crate::tabular::Tabular;
use crate::time_range::TimeRange;

/// Analytics.
pub struct AnalyticsApi {
    state: Arc<QueryState>,
}

impl AnalyticsApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }

    /// Waits for the read models, checks the project filter, and returns a client.
    async fn prepare(
        &self,
        user: Uuid,
        project: Option<Uuid>,
        consistency: Option<&str>,
    ) -> Result<deadpool_postgres::Object, Problem> {
        self.state
            .catch_up(
                user,
                consistency,
                &["projects", "usage", "agents", "conversations", "conflicts"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        if let Some(project) = project {
            let member = client
                .query_opt_cached(
                    "SELECT 1 FROM visible_projects($2) WHERE project_id = $1",
                    &[&project, &user],
                )
                .await
                .map_err(Problem::from_db)?;
            if member.is_none() {
                return Err(Problem::not_found("project not found"));
            }
        }
        Ok(client)
    }
}

/// Totals over the caller's projects.
#[derive(Debug, Object)]
struct Metrics {
    projects: i64,
    conversations: i64,
    messages: i64,
    agents: i64,
    tokens_input: i64,
    tokens_output: i64,
    /// Input and output tokens together.
    tokens: i64,
    cost_usd: String,
    conflicts: i64,
    conflicts_resolved: i64,
    /// Share of resolved conflicts settled without a person, 0 to 1
    /// (six decimals); `null` before any is resolved.
    conflict_auto_resolution_rate: Option<String>,
}

/// Cost on one day.
#[derive(Debug, Object)]
struct DailyCost {
    day: NaiveDate,
    cost_usd: String,
    tokens_input: i64,
    tokens_output: i64,
}

/// Cost of one model.
#[derive(Debug, Object)]
struct ModelCost {
    model: String,
    cost_usd: String,
    /// The part of `cost_usd` spent on input tokens.
    input_cost_usd: String,
    /// The part of `cost_usd` spent on output tokens.
    output_cost_usd: String,
    tokens_input: i64,
    tokens_output: i64,
    records: i64,
}

/// Tokens of one model on one day.
#[derive(Debug, Object)]
struct DailyTokens {
    day: NaiveDate,
    model: String,
    tokens_input: i64,
    tokens_output: i64,
}

/// One agent's work.
#[derive(Debug, Object)]
struct AgentMetrics {
    agent_id: Uuid,
    project_id: Uuid,
    name: String,
    status: String,
    tasks_done: i64,
    tasks_failed: i64,
    tokens_input: i64,
    tokens_output: i64,
    cost_usd: String,
    /// Share of its life spent `working`, 0 to 1 (six decimals).
    busy_share: String,
}

/// One task's cost.
#[derive(Debug, Object)]
struct TaskCost {
    task_id: Uuid,
    agent_id: Uuid,
    title: String,
    stage: Option<String>,
    /// open, succeeded or failed.
    outcome: String,
    tokens_input: i64,
    tokens_output: i64,
    cost_usd: String,
}

/// Recorded usage of one model priced two ways.
#[derive(Debug, Object)]
struct RepricedModel {
    model: String,
    tokens_input: i64,
    tokens_output: i64,
    /// What was charged, at the prices in force when it was recorded.
    charged_usd: String,
    /// What it would cost under the price book in force at `price_at`;
    /// `null` when the model had no price then.
    repriced_usd: Option<String>,
}

/// Re-pricing result.
#[derive(Debug, Object)]
struct Repriced {
    price_at: DateTime<Utc>,
    items: Vec<RepricedModel>,
}

/// A list of rows.
#[derive(Debug, Object)]
struct Items<T: poem_openapi::types::ParseFromJSON + poem_openapi::types::ToJSON + Send + Sync> {
    items: Vec<T>,
}

/// The usage the caller may see, filtered by project and time, one row per
/// UTC day, model and agent (`usage_between`, migration 0020: whole days
/// from the rollup, the partial days at the ends from the records).
const SCOPED_USAGE: &str = "SELECT * FROM usage_between($1, $2, $3, $4)";

fn money_of(value: Decimal) -> String {
    money::to_wire(value)
}

#[OpenApi(prefix_path = "/api/v1/analytics", tag = "QueryTags::Analytics")]
impl AnalyticsApi {
    /// Totals over the caller's projects.
    #[oai(path = "/metrics", method = "get", operation_id = "getMetrics")]
    async fn metrics(
        &self,
        req: &Request,
        auth: BearerAuth,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Tabular<Metrics>, Problem> {
        let client = self
            .prepare(auth.0.user_id, None, consistency_token.0.as_deref())
            .await?;
        let row = client
            .query_one_cached(
                "WITH mine AS (SELECT project_id FROM visible_projects($1))
                 SELECT (SELECT count(*) FROM mine),
                        (SELECT count(*) FROM rm_conversations WHERE project_id IN (SELECT project_id FROM mine)),
                        (SELECT coalesce(sum(message_count), 0)::bigint FROM rm_conversations
                          WHERE project_id IN (SELECT project_id FROM mine)),
                        (SELECT count(*) FROM rm_agents WHERE project_id IN (SELECT project_id FROM mine)),
                        (SELECT coalesce(sum(input_tokens), 0)::bigint FROM rm_usage_daily
                          WHERE project_id IN (SELECT project_id FROM mine)),
                        (SELECT coalesce(sum(output_tokens), 0)::bigint FROM rm_usage_daily
                          WHERE project_id IN (SELECT project_id FROM mine)),
                        (SELECT coalesce(sum(cost_usd), 0) FROM rm_usage_daily
                          WHERE project_id IN (SELECT project_id FROM mine)),
                        (SELECT count(*) FROM rm_conflicts WHERE project_id IN (SELECT project_id FROM mine)),
                        (SELECT count(*) FROM rm_conflicts WHERE status = 'resolved'
                            AND project_id IN (SELECT project_id FROM mine)),
                        (SELECT count(*) FROM rm_conflicts WHERE status = 'resolved' AND strategy <> 'manual'
                            AND project_id IN (SELECT project_id FROM mine))",
                &[&auth.0.user_id],
            )
            .await
            .map_err(Problem::from_db)?;
        let get = |i: usize| row.try_get::<_, i64>(i).map_err(Problem::from_db);
        let resolved = get(8)?;
        let automatic = get(9)?;
        Ok(Tabular::new(
            req,
            Metrics {
                projects: get(0)?,
                conversations: get(1)?,
                messages: get(2)?,
                agents: get(3)?,
                tokens_input: get(4)?,
                tokens_output: get(5)?,
                tokens: get(4)? + get(5)?,
                cost_usd: money_of(row.try_get(6).map_err(Problem::from_db)?),
                conflicts: get(7)?,
                conflicts_resolved: resolved,
                conflict_auto_resolution_rate: money::share(automatic, resolved),
            },
        ))
    }

    /// Cost per UTC day.
    #[oai(path = "/costs", method = "get", operation_id = "getCosts")]
    async fn costs(
        &self,
        req: &Request,
        auth: BearerAuth,
        from: Query<Option<Text<TimeBound>>>,
        to: Query<Option<Text<TimeBound>>>,
        project_id: Query<Option<Uuid>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Tabular<Items<DailyCost>>, Problem> {
        let range = TimeRange::parse(from.0.as_deref(), to.0.as_deref())?;
        let client = self
            .prepare(auth.0.user_id, project_id.0, consistency_token.0.as_deref())
            .await?;
        let items = rows::query_map(
            &client,
            &format!(
                "SELECT u.day, sum(u.cost_usd), sum(u.input_tokens)::bigint, sum(u.output_tokens)::bigint
                       FROM ({SCOPED_USAGE}) u GROUP BY u.day ORDER BY u.day"
            ),
            &[&auth.0.user_id, &project_id.0, &range.from, &range.until],
            |r| {
                Ok(DailyCost {
                    day: r.try_get(0)?,
                    cost_usd: money_of(r.try_get(1)?),
                    tokens_input: r.try_get(2)?,
                    tokens_output: r.try_get(3)?,
                })
            },
        )
        .await?;
        Ok(Tabular::new(req, Items { items }))
    }

    /// Cost and tokens per model.
    #[oai(path = "/costs/breakdown", method = "get", operation_id = "getCostBreakdown")]
    async fn breakdown(
        &self,
        req: &Request,
        auth: BearerAuth,
        from: Query<Option<Text<TimeBound>>>,
        to: Query<Option<Text<TimeBound>>>,
        project_id: Query<Option<Uuid>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Tabular<Items<ModelCost>>, Problem> {
        let range = TimeRange::parse(from.0.as_deref(), to.0.as_deref())?;
        let client = self
            .prepare(auth.0.user_id, project_id.0, consistency_token.0.as_deref())
            .await?;
        let items = rows::query_map(
            &client,
            &format!(
                "SELECT u.model, sum(u.cost_usd), sum(u.input_tokens)::bigint, sum(u.output_tokens)::bigint,
                            sum(u.records)::bigint, sum(u.input_cost_usd), sum(u.output_cost_usd)
                       FROM ({SCOPED_USAGE}) u GROUP BY u.model ORDER BY u.model"
            ),
            &[&auth.0.user_id, &project_id.0, &range.from, &range.until],
            |r| {
                Ok(ModelCost {
                    model: r.try_get(0)?,
                    cost_usd: money_of(r.try_get(1)?),
                    tokens_input: r.try_get(2)?,
                    tokens_output: r.try_get(3)?,
                    records: r.try_get(4)?,
                    input_cost_usd: money_of(r.try_get(5)?),
                    output_cost_usd: money_of(r.try_get(6)?),
                })
            },
        )
        .await?;
        Ok(Tabular::new(req, Items { items }))
    }

    /// Input and output tokens per UTC day and model.
    #[oai(path = "/tokens", method = "get", operation_id = "getTokens")]
    async fn tokens(
        &self,
        req: &Request,
        auth: BearerAuth,
        from: Query<Option<Text<TimeBound>>>,
        to: Query<Option<Text<TimeBound>>>,
        project_id: Query<Option<Uuid>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Tabular<Items<DailyTokens>>, Problem> {
        let range = TimeRange::parse(from.0.as_deref(), to.0.as_deref())?;
        let client = self
            .prepare(auth.0.user_id, project_id.0, consistency_token.0.as_deref())
            .await?;
        let items = rows::query_map(
            &client,
            &format!(
                "SELECT u.day, u.model, sum(u.input_tokens)::bigint, sum(u.output_tokens)::bigint
                       FROM ({SCOPED_USAGE}) u GROUP BY u.day, u.model ORDER BY u.day, u.model"
            ),
            &[&auth.0.user_id, &project_id.0, &range.from, &range.until],
            |r| {
                Ok(DailyTokens {
                    day: r.try_get(0)?,
                    model: r.try_get(1)?,
                    tokens_input: r.try_get(2)?,
                    tokens_output: r.try_get(3)?,
                })
            },
        )
        .await?;
        Ok(Tabular::new(req, Items { items }))
    }

    /// Per agent: tasks done and failed, tokens, cost, busy share.
    #[oai(path = "/agents", method = "get", operation_id = "getAgentMetrics")]
    async fn agents(
        &self,
        req: &Request,
        auth: BearerAuth,
        project_id: Query<Option<Uuid>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Tabular<Items<AgentMetrics>>, Problem> {
        let client = self
            .prepare(auth.0.user_id, project_id.0, consistency_token.0.as_deref())
            .await?;
        let items = rows::query_map(
            &client,
            "SELECT a.agent_id, a.project_id, a.name, a.status, a.tasks_done, a.tasks_failed,
                        coalesce(sum(u.input_tokens), 0)::bigint, coalesce(sum(u.output_tokens), 0)::bigint,
                        coalesce(sum(u.cost_usd), 0),
                        least(1, greatest(0, (a.working_seconds + CASE WHEN a.status = 'working'
                              THEN extract(epoch FROM now() - a.status_since)::float8 ELSE 0 END)
                           / greatest(extract(epoch FROM now() - a.created_at)::float8, 1)))::numeric
                   FROM rm_agents a
                   JOIN visible_projects($1) v ON v.project_id = a.project_id
                   LEFT JOIN rm_usage_daily u ON u.agent_id = a.agent_id
                  WHERE ($2::uuid IS NULL OR a.project_id = $2)
                  GROUP BY a.agent_id ORDER BY a.agent_id",
            &[&auth.0.user_id, &project_id.0],
            |r| {
                Ok(AgentMetrics {
                    agent_id: r.try_get(0)?,
                    project_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    status: r.try_get(3)?,
                    tasks_done: r.try_get(4)?,
                    tasks_failed: r.try_get(5)?,
                    tokens_input: r.try_get(6)?,
                    tokens_output: r.try_get(7)?,
                    cost_usd: money_of(r.try_get(8)?),
                    busy_share: money_of(r.try_get(9)?),
                })
            },
        )
        .await?;
        Ok(Tabular::new(req, Items { items }))
    }

    /// Per task: its agent, stage, outcome, tokens and cost.
    #[oai(path = "/tasks", method = "get", operation_id = "getTaskCosts")]
    async fn tasks(
        &self,
        req: &Request,
        auth: BearerAuth,
        project_id: Query<Option<Uuid>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Tabular<Items<TaskCost>>, Problem> {
        let client = self
            .prepare(auth.0.user_id, project_id.0, consistency_token.0.as_deref())
            .await?;
        let items = rows::query_map(
            &client,
            "SELECT t.task_id, t.agent_id, t.title, t.stage, t.outcome,
                        coalesce(u.input_tokens, 0), coalesce(u.output_tokens, 0), coalesce(u.cost_usd, 0)
                   FROM rm_tasks t
                   JOIN visible_projects($1) v ON v.project_id = t.project_id
                   LEFT JOIN rm_task_usage u ON u.task_id = t.task_id
                  WHERE ($2::uuid IS NULL OR t.project_id = $2)
                  ORDER BY t.task_id",
            &[&auth.0.user_id, &project_id.0],
            |r| {
                Ok(TaskCost {
                    task_id: r.try_get(0)?,
                    agent_id: r.try_get(1)?,
                    title: r.try_get(2)?,
                    stage: r.try_get(3)?,
                    outcome: r.try_get(4)?,
                    tokens_input: r.try_get(5)?,
                    tokens_output: r.try_get(6)?,
                    cost_usd: money_of(r.try_get(7)?),
                })
            },
        )
        .await?;
        Ok(Tabular::new(req, Items { items }))
    }

    /// Recorded usage priced with the price book in force at `price_at`
    /// (default now), beside what was actually charged, per model.
    #[oai(path = "/costs/repriced", method = "get", operation_id = "getRepricedCosts")]
    async fn repriced(
        &self,
        req: &Request,
        auth: BearerAuth,
        project_id: Query<Option<Uuid>>,
        price_at: Query<Option<Text<TimeBound>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Tabular<Repriced>, Problem> {
        let price_at = match price_at.0.as_deref() {
            Some(raw) => TimeRange::parse(Some(raw), None)
                .map_err(|_| {
                    Problem::invalid_field(zekka_domain::FieldError::new(
                        "price_at",
                        "must be an RFC 3339 time or a date (YYYY-MM-DD)",
                    ))
                })?
                .from
                .unwrap_or_else(Utc::now),
            None => Utc::now(),
        };
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &["pricing"])
            .await?;
        let client = self
            .prepare(auth.0.user_id, project_id.0, consistency_token.0.as_deref())
            .await?;
        let items = rows::query_map(&client, &format!(
                    "WITH book AS (
                         SELECT DISTINCT ON (model) model, input_usd_per_million, output_usd_per_million
                           FROM rm_model_prices WHERE effective_from <= $5
                          ORDER BY model, effective_from DESC
                     )
                     SELECT u.model, sum(u.input_tokens)::bigint, sum(u.output_tokens)::bigint, sum(u.cost_usd),
                            CASE WHEN bool_and(b.model IS NOT NULL)
                                 THEN sum(u.input_tokens * b.input_usd_per_million
                                          + u.output_tokens * b.output_usd_per_million) / 1000000 END
                       FROM ({SCOPED_USAGE}) u LEFT JOIN book b ON b.model = u.model
                      GROUP BY u.model ORDER BY u.model"
                ), &[&auth.0.user_id, &project_id.0, &None::<DateTime<Utc>>, &None::<DateTime<Utc>>, &price_at], |r| {
                Ok(RepricedModel {
                    model: r.try_get(0)?,
                    tokens_input: r.try_get(1)?,
                    tokens_output: r.try_get(2)?,
                    charged_usd: money_of(r.try_get(3)?),
                    repriced_usd: r.try_get::<_, Option<Decimal>>(4)?.map(money_of),
                })
            }).await?;
        Ok(Tabular::new(req, Repriced { price_at, items }))
    }
}
