//! Planning a stage: one task per agent registered for it, each on the
//! model the budget allows (automatic model switching).

use std::collections::HashMap;

use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_domain::execution::PlannedTask;
use zekka_domain::pricing::per_million;
use zekka_domain::project::Stage;

use crate::app::dispatch;
use crate::app::error::AppError;
use crate::app::prices::{self, PriceInForce};
use crate::app::state::CommandState;

/// A model and its price in force.
pub type PricedModel = PriceInForce;

/// What `estimate` costs on `priced`.
fn cost(priced: &PricedModel, estimate: Estimate) -> Decimal {
    per_million(estimate.input_tokens, priced.input_usd_per_million)
        + per_million(estimate.output_tokens, priced.output_usd_per_million)
}

/// The tokens one task is expected to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

/// The model a task runs on and what it is expected to cost there: the
/// agent's own while `remaining` covers it (or there is no budget), else
/// the cheapest paid model that fits, else a free (local) one; with none
/// of those, the agent's own (the budget refuses its usage, 402, and the
/// agent learns the cheapest model from that answer).
pub fn choose_model(
    own: &str,
    estimate: Estimate,
    remaining: Option<Decimal>,
    prices: &[PricedModel],
) -> (String, Decimal) {
    let own_cost = prices
        .iter()
        .find(|priced| priced.model == own)
        .map_or(Decimal::ZERO, |priced| cost(priced, estimate));
    let Some(remaining) = remaining else {
        return (own.to_owned(), own_cost);
    };
    if own_cost <= remaining {
        return (own.to_owned(), own_cost);
    }
    let mut fitting: Vec<(Decimal, bool, &str)> = prices
        .iter()
        .map(|priced| {
            let cost = cost(priced, estimate);
            (cost, cost.is_zero(), priced.model.as_str())
        })
        .filter(|(cost, _, _)| *cost <= remaining)
        .collect();
    // Paid models first (cheapest first), the free ones last.
    fitting.sort_by(|a, b| (a.1, a.0, a.2).cmp(&(b.1, b.0, b.2)));
    match fitting.first() {
        Some((cost, _, model)) => ((*model).to_owned(), *cost),
        None => (own.to_owned(), own_cost),
    }
}

/// The tasks of `stage` for the run `execution_id` of `project_id`, with
/// their models, and what remained of the budget when they were chosen.
///
/// # Errors
/// When the database fails.
pub async fn plan_stage(
    state: &CommandState,
    execution_id: Uuid,
    project_id: Uuid,
    stage: Stage,
) -> Result<(Vec<PlannedTask>, Option<Decimal>), AppError> {
    let project = dispatch::load(&state.projects, project_id).await?;
    let mut remaining = project
        .budget_usd
        .map(|budget| (budget - project.spent_usd).max(Decimal::ZERO));
    let budget_remaining = remaining;
    let client = state.lookup_connection().await?;
    let agents = client
        .query(
            "SELECT agent_id, model FROM rm_agents WHERE project_id = $1 AND stage = $2
              ORDER BY created_at, agent_id",
            &[&project_id, &stage.as_str()],
        )
        .await?;
    let agent_ids: Vec<Uuid> = agents
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let estimates: HashMap<Uuid, Estimate> = client
        .query(
            "SELECT t.agent_id, avg(u.input_tokens)::bigint, avg(u.output_tokens)::bigint
               FROM rm_tasks t JOIN rm_task_usage u USING (task_id)
              WHERE t.agent_id = ANY($1) AND t.outcome = 'succeeded'
              GROUP BY t.agent_id",
            &[&agent_ids],
        )
        .await?
        .iter()
        .map(|row| {
            let tokens = |at: usize| row.try_get::<_, i64>(at).map(|n| u64::try_from(n).unwrap_or(0));
            Ok((
                row.try_get(0)?,
                Estimate {
                    input_tokens: tokens(1)?,
                    output_tokens: tokens(2)?,
                },
            ))
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    drop(client);
    let prices = prices::in_force(state).await?;
    let default = Estimate {
        input_tokens: state.config.execution_task_input_tokens,
        output_tokens: state.config.execution_task_output_tokens,
    };
    let mut tasks = Vec::with_capacity(agents.len());
    for row in &agents {
        let agent_id: Uuid = row.try_get(0)?;
        let own: String = row.try_get(1)?;
        let estimate = estimates.get(&agent_id).copied().unwrap_or(default);
        let (model, cost) = choose_model(&own, estimate, remaining, &prices);
        remaining = remaining.map(|left| (left - cost).max(Decimal::ZERO));
        tasks.push(PlannedTask {
            task_id: PlannedTask::id_for(execution_id, stage, agent_id),
            agent_id,
            model,
        });
    }
    Ok((tasks, budget_remaining))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn priced(model: &str, input: i64, output: i64) -> PricedModel {
        PricedModel {
            model: model.into(),
            input_usd_per_million: Decimal::from(input),
            output_usd_per_million: Decimal::from(output),
        }
    }

    fn book() -> Vec<PricedModel> {
        vec![
            priced("gpt-4", 30, 60),
            priced("claude-sonnet", 3, 15),
            priced("gemini-pro", 1, 2),
            priced("llama3.1:8b", 0, 0),
        ]
    }

    const MILLION: Estimate = Estimate {
        input_tokens: 1_000_000,
        output_tokens: 0,
    };

    #[test]
    fn without_a_budget_or_with_enough_the_agent_keeps_its_own_model() {
        assert_eq!(choose_model("gpt-4", MILLION, None, &book()).0, "gpt-4");
        assert_eq!(
            choose_model("gpt-4", MILLION, Some(Decimal::from(30)), &book()),
            ("gpt-4".to_owned(), Decimal::from(30))
        );
    }

    #[test]
    fn short_of_its_own_the_cheapest_paid_model_that_fits_is_chosen() {
        assert_eq!(
            choose_model("gpt-4", MILLION, Some(Decimal::from(29)), &book()),
            ("gemini-pro".to_owned(), Decimal::from(1))
        );
    }

    #[test]
    fn when_no_paid_model_fits_the_local_one_is_last() {
        assert_eq!(
            choose_model("gpt-4", MILLION, Some(Decimal::new(5, 1)), &book()),
            ("llama3.1:8b".to_owned(), Decimal::ZERO)
        );
    }
}
