//! `GET /api/v1/projects/{id}/analytics`: everything a project page shows
//! about its spending in one call — totals, and the same split by model,
//! by agent and by UTC day — over `from`/`to`, summed exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::{Object, OpenApi};
use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_domain::project::Scope;
use zekka_event_store::database::CachedQueries;
use zekka_platform::auth::AgentAuth;
use zekka_platform::input::{Text, TimeBound, TokenHeader};
use zekka_platform::policy::{self, Action};
use zekka_platform::{Problem, money};

use super::QueryTags;
use crate::state::QueryState;
use crate::tabular::Tabular;
use crate::time_range::TimeRange;
use crate::visibility;

/// A project's analytics.
pub struct ProjectAnalyticsApi {
    state: Arc<QueryState>,
}

impl ProjectAnalyticsApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// Tokens and cost of one model.
#[derive(Debug, Object)]
struct ByModel {
    model: String,
    tokens_input: i64,
    tokens_output: i64,
    cost_usd: String,
}

/// Tokens and cost of one agent.
#[derive(Debug, Object)]
struct ByAgent {
    agent_id: Uuid,
    name: String,
    tokens_input: i64,
    tokens_output: i64,
    cost_usd: String,
}

/// Tokens and cost on one UTC day.
#[derive(Debug, Object)]
struct ByDay {
    day: NaiveDate,
    tokens_input: i64,
    tokens_output: i64,
    cost_usd: String,
}

/// A project's spending over a time range.
#[derive(Debug, Object)]
struct ProjectAnalytics {
    project_id: Uuid,
    tokens_input: i64,
    tokens_output: i64,
    /// Input and output tokens together.
    tokens: i64,
    cost_usd: String,
    /// By model name.
    by_model: Vec<ByModel>,
    /// By agent id.
    by_agent: Vec<ByAgent>,
    /// By day, oldest first; days without usage are left out.
    by_day: Vec<ByDay>,
}

/// Sums of one group.
#[derive(Default)]
struct Sums {
    input: i64,
    output: i64,
    cost: Decimal,
}

impl Sums {
    fn add(&mut self, input: i64, output: i64, cost: Decimal) {
        self.input += input;
        self.output += output;
        self.cost += cost;
    }
}

#[OpenApi(prefix_path = "/api/v1/projects", tag = "QueryTags::Analytics")]
impl ProjectAnalyticsApi {
    /// A project's tokens and cost, in total and by model, agent and day,
    /// between `from` and `to` (RFC 3339 times or whole UTC days, both
    /// inclusive). Members and the project's keys with `read` see it.
    #[oai(path = "/:id/analytics", method = "get", operation_id = "getProjectAnalytics")]
    async fn analytics(
        &self,
        req: &Request,
        auth: AgentAuth,
        id: Path<Uuid>,
        from: Query<Option<Text<TimeBound>>>,
        to: Query<Option<Text<TimeBound>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Tabular<ProjectAnalytics>, Problem> {
        policy::authorize(&auth.0, Action::in_project(Scope::Read, id.0))?;
        let range = TimeRange::parse(from.0.as_deref(), to.0.as_deref())?;
        let viewer = auth.0.acting_user();
        self.state
            .catch_up(
                viewer,
                consistency_token.0.as_deref(),
                &["projects", "usage", "agents"],
            )
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        visibility::member(&client, viewer, id.0).await?;
        let rows = client
            .query_cached(
                "SELECT u.day, u.model, u.agent_id, coalesce(a.name, ''),
                        sum(u.input_tokens)::bigint, sum(u.output_tokens)::bigint, sum(u.cost_usd)
                   FROM usage_between($1, $2, $3, $4) u
                   LEFT JOIN rm_agents a ON a.agent_id = u.agent_id
                  GROUP BY u.day, u.model, u.agent_id, a.name",
                &[&viewer, &id.0, &range.from, &range.until],
            )
            .await
            .map_err(Problem::from_db)?;
        let mut total = Sums::default();
        let mut by_model: BTreeMap<String, Sums> = BTreeMap::new();
        let mut by_agent: BTreeMap<Uuid, (String, Sums)> = BTreeMap::new();
        let mut by_day: BTreeMap<NaiveDate, Sums> = BTreeMap::new();
        for row in &rows {
            let get_i64 = |i: usize| row.try_get::<_, i64>(i).map_err(Problem::from_db);
            let (input, output) = (get_i64(4)?, get_i64(5)?);
            let cost: Decimal = row.try_get(6).map_err(Problem::from_db)?;
            let day: NaiveDate = row.try_get(0).map_err(Problem::from_db)?;
            let model: String = row.try_get(1).map_err(Problem::from_db)?;
            let agent: Uuid = row.try_get(2).map_err(Problem::from_db)?;
            let name: String = row.try_get(3).map_err(Problem::from_db)?;
            total.add(input, output, cost);
            by_model.entry(model).or_default().add(input, output, cost);
            by_agent
                .entry(agent)
                .or_insert_with(|| (name, Sums::default()))
                .1
                .add(input, output, cost);
            by_day.entry(day).or_default().add(input, output, cost);
        }
        Ok(Tabular::new(
            req,
            ProjectAnalytics {
                project_id: id.0,
                tokens_input: total.input,
                tokens_output: total.output,
                tokens: total.input + total.output,
                cost_usd: money::to_wire(total.cost),
                by_model: by_model
                    .into_iter()
                    .map(|(model, s)| ByModel {
                        model,
                        tokens_input: s.input,
                        tokens_output: s.output,
                        cost_usd: money::to_wire(s.cost),
                    })
                    .collect(),
                by_agent: by_agent
                    .into_iter()
                    .map(|(agent_id, (name, s))| ByAgent {
                        agent_id,
                        name,
                        tokens_input: s.input,
                        tokens_output: s.output,
                        cost_usd: money::to_wire(s.cost),
                    })
                    .collect(),
                by_day: by_day
                    .into_iter()
                    .map(|(day, s)| ByDay {
                        day,
                        tokens_input: s.input,
                        tokens_output: s.output,
                        cost_usd: money::to_wire(s.cost),
                    })
                    .collect(),
            },
        ))
    }
}
