//! `GET /api/v1/pricing/models`: the price list, or its whole history.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use rust_decimal::Decimal;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::TokenHeader;
use zekka_platform::{Problem, money};

use super::QueryTags;
use crate::state::QueryState;

/// Reading model prices.
pub struct PricingQueryApi {
    state: Arc<QueryState>,
}

impl PricingQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// A model's price from `effective_from` on.
#[derive(Debug, Object)]
struct ModelPriceView {
    model: String,
    /// USD per million input tokens (six decimals).
    input_usd_per_million: String,
    /// USD per million output tokens (six decimals).
    output_usd_per_million: String,
    effective_from: DateTime<Utc>,
}

#[OpenApi(prefix_path = "/api/v1/pricing", tag = "QueryTags::Pricing")]
impl PricingQueryApi {
    /// The price in force now for every model, or with `history=true` every
    /// price ever set (including ones that start in the future), by model
    /// and date.
    #[oai(path = "/models", method = "get", operation_id = "listModelPrices")]
    async fn list(
        &self,
        auth: BearerAuth,
        history: Query<Option<bool>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<Vec<ModelPriceView>>, Problem> {
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &["pricing"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let sql = if history.0.unwrap_or(false) {
            "SELECT model, input_usd_per_million, output_usd_per_million, effective_from
               FROM rm_model_prices ORDER BY model, effective_from"
        } else {
            "SELECT DISTINCT ON (model) model, input_usd_per_million, output_usd_per_million, effective_from
               FROM rm_model_prices WHERE effective_from <= now()
              ORDER BY model, effective_from DESC"
        };
        let statement = client.prepare_cached(sql).await.map_err(Problem::from_db)?;
        let rows = client.query(&statement, &[]).await.map_err(Problem::from_db)?;
        let prices = rows
            .iter()
            .map(|row| {
                Ok(ModelPriceView {
                    model: row.try_get(0)?,
                    input_usd_per_million: money::to_wire(row.try_get::<_, Decimal>(1)?),
                    output_usd_per_million: money::to_wire(row.try_get::<_, Decimal>(2)?),
                    effective_from: row.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(Problem::from_db)?;
        Ok(Json(prices))
    }
}
