//! `GET /api/v1/users/me`.

use std::sync::Arc;
use zekka_event_store::database::CachedQueries;

use chrono::{DateTime, Utc};
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::TokenHeader;

use super::QueryTags;
use crate::state::QueryState;

/// Reading accounts.
pub struct UserQueryApi {
    state: Arc<QueryState>,
}

impl UserQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// The signed-in user.
#[derive(Debug, Object)]
struct Me {
    user_id: Uuid,
    email: String,
    display_name: String,
    email_verified: bool,
    /// System roles (`admin`, `auditor`) of this session.
    roles: Vec<String>,
    created_at: DateTime<Utc>,
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "QueryTags::Users")]
impl UserQueryApi {
    /// The signed-in user's account.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(
        &self,
        auth: BearerAuth,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<Me>, Problem> {
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &["users"])
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let row = client
            .query_opt_cached(
                "SELECT user_id, email, display_name, email_verified, created_at
                   FROM rm_users WHERE user_id = $1",
                &[&auth.0.user_id],
            )
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("no such account"))?;
        Ok(Json(Me {
            user_id: row.try_get(0).map_err(Problem::from_db)?,
            email: row.try_get(1).map_err(Problem::from_db)?,
            display_name: row.try_get(2).map_err(Problem::from_db)?,
            email_verified: row.try_get(3).map_err(Problem::from_db)?,
            roles: auth.0.roles.clone(),
            created_at: row.try_get(4).map_err(Problem::from_db)?,
        }))
    }
}
