//! The price list the command side charges with: the price of a model at
//! a moment (usage, arbitration), the cheapest model in force (the answer
//! to a spent budget), and the defaults seeded once. Application logic
//! that routes and the arbitrator share, kept out of the route files.

use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use zekka_domain::pricing::{
    ModelName, ModelPrice, Price, PricePerMillion, PricingCommand, PricingEvent, default_prices,
};
use zekka_event_store::lookups::streams;
use zekka_event_store::store::Guard;

use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::state::CommandState;

/// The price of `model` in force at `at`, from its price history in the
/// event store.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn price_at(
    state: &CommandState,
    model: &str,
    at: DateTime<Utc>,
) -> Result<Option<Price>, AppError> {
    let loaded = state.pricing.store().state(model).await.map_err(AppError::from)?;
    Ok(loaded.price_at(at))
}

/// [`price_at`] from the price list's state in memory (read only when
/// `fresh` or not held), with the [`Guard`] a usage charged at it appends
/// under: it fails if the model's price changed since. No price in memory
/// is never the answer: the list is read fresh first.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn price_at_guarded(
    state: &CommandState,
    model: &str,
    at: DateTime<Utc>,
    fresh: bool,
) -> Result<(Option<Price>, Guard), AppError> {
    let store = state.pricing.store();
    let (loaded, guard) = store
        .state_guarded(model, fresh, &[])
        .await
        .map_err(AppError::from)?;
    match loaded.price_at(at) {
        None if !fresh => {
            let (loaded, guard) = store
                .state_guarded(model, true, &[])
                .await
                .map_err(AppError::from)?;
            Ok((loaded.price_at(at), guard))
        }
        price => Ok((price, guard)),
    }
}

/// A model and its price in force now (USD per million tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceInForce {
    /// The model.
    pub model: String,
    /// Per million input tokens.
    pub input_usd_per_million: rust_decimal::Decimal,
    /// Per million output tokens.
    pub output_usd_per_million: rust_decimal::Decimal,
}

/// Every model's price in force now, from the price histories.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn in_force(state: &CommandState) -> Result<Vec<PriceInForce>, AppError> {
    let client = state.lookup_connection().await?;
    Ok(streams::prices_in_force(&client)
        .await?
        .into_iter()
        .map(
            |PricingEvent::ModelPriceSet {
                 model,
                 input_usd_per_million,
                 output_usd_per_million,
                 ..
             }| PriceInForce {
                model,
                input_usd_per_million,
                output_usd_per_million,
            },
        )
        .collect())
}

/// The model with the lowest price (input plus output per million) in
/// force now: what a client can switch to when a budget runs out.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn cheapest_model(state: &CommandState) -> Result<Option<String>, AppError> {
    Ok(in_force(state)
        .await?
        .into_iter()
        .map(|price| {
            (
                price.input_usd_per_million + price.output_usd_per_million,
                price.model,
            )
        })
        .min()
        .map(|(_, model)| model))
}

/// Sets CONTRACT.md's default prices (effective since 1970) for every
/// default model that has no price yet. Safe to run from every process
/// at every start: a model that has a price is left alone, and of two
/// processes seeding one model at once, the second meets a conflict and
/// lets it be.
///
/// # Errors
/// When the database fails.
pub async fn seed_default_prices(state: &CommandState) -> anyhow::Result<()> {
    let context = CommandContext {
        actor: None,
        api_key: None,
        request_id: "seed-default-prices".to_owned(),
        client: zekka_platform::http::ClientInfo::default(),
        causation_id: None,
    };
    for (model, input, output) in default_prices() {
        let loaded = state
            .pricing
            .store()
            .state(model)
            .await
            .map_err(|e| anyhow::anyhow!("failed to read the price of {model}: {e}"))?;
        if !loaded.history.is_empty() {
            continue;
        }
        let command = PricingCommand::SetPrice {
            model: ModelName::parse(model)?,
            input: PricePerMillion::parse("input", &input.to_string())?,
            output: PricePerMillion::parse("output", &output.to_string())?,
            effective_from: DateTime::<Utc>::UNIX_EPOCH,
        };
        match dispatch::run::<ModelPrice>(&state.pricing, model, command, "SetModelPrice", &context).await {
            Ok(_) | Err(AggregateError::AggregateConflict) => {}
            Err(error) => anyhow::bail!("failed to set the default price of {model}: {error}"),
        }
    }
    Ok(())
}
