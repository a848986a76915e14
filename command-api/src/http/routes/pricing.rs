//! `PUT /api/v1/pricing/models/{model}`: set a model's price (system admins
//! only). History is kept: a new price applies from its `effective_from` on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use zekka_domain::pricing::{ModelName, PricePerMillion, PricingCommand};
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Decimal, ModelName as ModelNameText, Text};
use zekka_platform::policy::{self, Action};
use zekka_platform::{Problem, money};

use super::CommandTags;
use crate::app::dispatch;
use crate::app::state::CommandState;
use crate::http::fields::AllFields;
use crate::http::{self, problem};

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
        policy::authorize_person(&auth.0, Action::SetPrices)?;
        let (model, input, output) = (
            ModelName::parse(&model.0),
            PricePerMillion::parse("input_usd_per_million", &body.input_usd_per_million),
            PricePerMillion::parse("output_usd_per_million", &body.output_usd_per_million),
        )
            .all()
            .map_err(problem::invalid)?;
        let effective_from = body.effective_from.unwrap_or_else(Utc::now);
        let name = model.as_str().to_owned();
        let command = PricingCommand::SetPrice {
            model,
            input,
            output,
            effective_from,
        };
        let context = http::context(req, Some(auth.0.user_id));
        let token = dispatch::execute(&self.state.pricing, &name, command, "SetModelPrice", &context)
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
