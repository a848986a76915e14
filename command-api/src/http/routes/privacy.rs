//! `DELETE /api/v1/users/me`: erasure (GDPR Art. 17) by crypto-shredding.
//!
//! The person's data key is deleted first (from then on their sealed
//! values read as erased everywhere, and nothing new can be sealed for
//! them), then `UserErased` is appended (projectors purge their rows), then
//! every token of theirs is revoked and their pending mail dropped. Each
//! step is idempotent, so a request that fails half-way is simply repeated.

use std::sync::Arc;

use chrono::Utc;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::user::UserCommand;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;

use super::CommandTags;
use crate::app::dispatch;
use crate::app::sessions;
use crate::app::state::CommandState;
use crate::http::{self, limits};

/// Erasing people.
pub struct PrivacyCommandApi {
    state: Arc<CommandState>,
}

impl PrivacyCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// The erasure was carried out.
#[derive(Debug, Object)]
struct Erased {
    user_id: Uuid,
    erased_at: chrono::DateTime<Utc>,
    /// Send back in `X-Consistency-Token` to see the read models purged.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum ErasedResponse {
    /// The personal data is unreadable now; read models are purged as the
    /// projectors apply `UserErased`.
    #[oai(status = 202)]
    Accepted(Json<Erased>, #[oai(header = "X-Consistency-Token")] String),
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "CommandTags::Privacy")]
impl PrivacyCommandApi {
    /// Erase me: my email, name and what I wrote become unreadable
    /// everywhere, my account and sessions end. Others' data stays.
    #[oai(path = "/me", method = "delete", operation_id = "eraseMe")]
    async fn erase_me(&self, req: &Request, auth: BearerAuth) -> Result<ErasedResponse, Problem> {
        let state = &self.state;
        let user_id = auth.0.user_id;
        limits::writes(state, user_id).await?;
        let email = sessions::load_user(state, &user_id.to_string())
            .await?
            .map(|user| user.email)
            .ok_or_else(|| Problem::not_found("no such account"))?;
        state.personal.erase(user_id).await.map_err(|error| {
            tracing::warn!(%error, "cannot delete a data key");
            Problem::unavailable("the key store is unavailable; retry shortly", 2)
        })?;
        let now = Utc::now();
        let context = http::context(req, Some(user_id));
        let token = dispatch::execute(
            &state.users,
            &user_id.to_string(),
            UserCommand::Erase { now },
            "EraseUser",
            &context,
        )
        .await?;
        sessions::revoke_every_token(state, user_id, now).await?;
        sqlx::query("DELETE FROM mail_outbox WHERE recipient = $1")
            .bind(&email)
            .execute(&state.pool)
            .await
            .map_err(Problem::from_sqlx)?;
        // Stored answers may hold their name or address; messages waiting
        // for a webhook receiver may hold what they wrote, opened.
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1")
            .bind(format!("user:{user_id}"))
            .execute(&state.pool)
            .await
            .map_err(Problem::from_sqlx)?;
        sqlx::query("DELETE FROM webhook_outbox WHERE strpos(body, $1) > 0")
            .bind(user_id.to_string())
            .execute(&state.pool)
            .await
            .map_err(Problem::from_sqlx)?;
        tracing::info!(%user_id, "person erased");
        let token = token.to_string();
        Ok(ErasedResponse::Accepted(
            Json(Erased {
                user_id,
                erased_at: now,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }
}
