//! `GET /api/v1/preferences`: the signed-in user's preferences (defaults
//! until they change one).

use std::sync::Arc;

use poem_openapi::OpenApi;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use serde_json::Value;
use zekka_domain::preferences::Settings;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::TokenHeader;

use super::QueryTags;
use crate::state::QueryState;

/// Reading preferences.
pub struct PreferencesQueryApi {
    state: Arc<QueryState>,
}

impl PreferencesQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/api/v1/preferences", tag = "QueryTags::Preferences")]
impl PreferencesQueryApi {
    /// Every preference of the signed-in user, defaults included.
    #[oai(path = "/", method = "get", operation_id = "getPreferences")]
    async fn get(
        &self,
        auth: BearerAuth,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<Value>, Problem> {
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &["preferences"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let statement = client
            .prepare_cached("SELECT settings FROM rm_preferences WHERE user_id = $1")
            .await
            .map_err(Problem::from_db)?;
        let stored: Option<Value> = client
            .query_opt(&statement, &[&auth.0.user_id])
            .await
            .map_err(Problem::from_db)?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(Problem::from_db)?;
        Ok(Json(stored.unwrap_or_else(|| Settings::default().to_json())))
    }
}
