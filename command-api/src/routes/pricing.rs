//! `PUT /api/v1/pricing/models/{model}`: set a model's price (system admins
//! only). History is kept: a new price applies from its `effective_from` on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::{AggregateError, EventStore};
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use zekka_domain::pricing::{ModelName, ModelPrice, Price, PricePerMillion, PricingCommand, default_prices};
use zekka_domain::user::SystemRole;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Decimal, ModelName as ModelNameText, Text};
use zekka_platform::{Problem, money};

use super::CommandTags;
use crate::dispatch::{self, CommandContext};
use crate::state::CommandState;

/// Setting model prices.
pub struct PricingCommandApi {
    state: Arc<CommandState>,
}

impl PricingCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// A model's new price.
#[derive(Debug, Object)]
struct SetPriceRequest {
    /// USD per million input tokens, as a decimal string (`"3.00"`).
    input_usd_per_million: Text<Decimal<6>>,
    /// USD per million output tokens, as a decimal string.
    output_usd_per_million: Text<Decimal<6>>,
    /// From when it applies (default now); after the model's latest price.
    effective_from: Option<DateTime<Utc>>,
}

/// The price as set.
#[derive(Debug, Object)]
struct PriceSet {
    model: String,
    input_usd_per_million: String,
    output_usd_per_million: String,
    effective_from: DateTime<Utc>,
    consistency_token: String,
}

#[derive(ApiResponse)]
enum PriceSetResponse {
    /// The price was recorded.
    #[oai(status = 200)]
    Ok(Json<PriceSet>, #[oai(header = "X-Consistency-Token")] String),
}

#[OpenApi(prefix_path = "/api/v1/pricing", tag = "CommandTags::Pricing")]
impl PricingCommandApi {
    /// Set a model's price from now (or `effective_from`) on. System admins only.
    #[oai(path = "/models/:model", method = "put", operation_id = "setModelPrice")]
    async fn set_price(
        &self,
        req: &Request,
        auth: BearerAuth,
        model: Path<Text<ModelNameText>>,
        body: Json<SetPriceRequest>,
    ) -> Result<PriceSetResponse, Problem> {
        if !auth.0.has_role(SystemRole::Admin) {
            return Err(Problem::forbidden("setting prices needs the system admin role"));
        }
        let (model, input, output) = match (
            ModelName::parse(&model.0),
            PricePerMillion::parse("input_usd_per_million", &body.input_usd_per_million),
            PricePerMillion::parse("output_usd_per_million", &body.output_usd_per_million),
        ) {
            (Ok(m), Ok(i), Ok(o)) => (m, i, o),
            (m, i, o) => return Err(dispatch::invalid([m.err(), i.err(), o.err()])),
        };
        let effective_from = body.effective_from.unwrap_or_else(Utc::now);
        let name = model.as_str().to_owned();
        let command = PricingCommand::SetPrice {
            model,
            input,
            output,
            effective_from,
        };
        let context = CommandContext::of(req, Some(auth.0.user_id));
        let token = dispatch::execute(
            &self.state.pricing,
            &self.state.pool,
            &name,
            command,
            "SetModelPrice",
            &context,
        )
        .await?
        .to_string();
        Ok(PriceSetResponse::Ok(
            Json(PriceSet {
                model: name,
                input_usd_per_million: money::to_wire(input.amount()),
                output_usd_per_million: money::to_wire(output.amount()),
                effective_from,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }
}

impl CommandState {
    /// The price of `model` in force at `at`, from its price history in the
    /// event store.
    ///
    /// # Errors
    /// 503 or 500 when the database fails.
    pub async fn price_at(&self, model: &str, at: DateTime<Utc>) -> Result<Option<Price>, Problem> {
        let loaded = self
            .pricing_store
            .load_aggregate(model)
            .await
            .map_err(dispatch::refused)?;
        Ok(loaded.aggregate.price_at(at))
    }

    /// The model with the lowest price (input plus output per million) in
    /// force now: what a client can switch to when a budget runs out.
    ///
    /// # Errors
    /// 503 or 500 when the database fails.
    pub async fn cheapest_model(&self) -> Result<Option<String>, Problem> {
        let latest: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT DISTINCT ON (aggregate_id) aggregate_id, payload -> 'ModelPriceSet'
               FROM events
              WHERE aggregate_type = 'ModelPrice' AND (payload -> 'ModelPriceSet' ->> 'effective_from')::timestamptz <= now()
              ORDER BY aggregate_id, sequence DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Problem::from_sqlx)?;
        let total = |price: &serde_json::Value| -> Option<rust_decimal::Decimal> {
            let field = |name: &str| price.get(name)?.as_str()?.parse::<rust_decimal::Decimal>().ok();
            Some(field("input_usd_per_million")? + field("output_usd_per_million")?)
        };
        Ok(latest
            .iter()
            .filter_map(|(model, price)| total(price).map(|t| (t, model)))
            .min()
            .map(|(_, model)| model.clone()))
    }

    /// Sets CONTRACT.md's default prices (effective since 1970) for every
    /// default model that has no price yet. Safe to run from every process
    /// at every start: a model that has a price is left alone, and of two
    /// processes seeding one model at once, the second meets a conflict and
    /// lets it be.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn seed_default_prices(&self) -> anyhow::Result<()> {
        let context = CommandContext {
            actor: None,
            api_key: None,
            request_id: "seed-default-prices".to_owned(),
            client: zekka_platform::http::ClientInfo::default(),
        };
        for (model, input, output) in default_prices() {
            let loaded = self
                .pricing_store
                .load_aggregate(model)
                .await
                .map_err(|e| anyhow::anyhow!("failed to read the price of {model}: {e}"))?;
            if !loaded.aggregate.history.is_empty() {
                continue;
            }
            let command = PricingCommand::SetPrice {
                model: ModelName::parse(model)?,
                input: PricePerMillion::parse("input", &input.to_string())?,
                output: PricePerMillion::parse("output", &output.to_string())?,
                effective_from: DateTime::<Utc>::UNIX_EPOCH,
            };
            match dispatch::run::<ModelPrice>(&self.pricing, model, command, "SetModelPrice", &context).await
            {
                Ok(()) | Err(AggregateError::AggregateConflict) => {}
                Err(error) => anyhow::bail!("failed to set the default price of {model}: {error}"),
            }
        }
        Ok(())
    }
}
