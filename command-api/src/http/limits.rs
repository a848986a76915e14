//! Rate limits at the edge: counted per client address or per signed-in
//! user before a request does anything, answered 429 with the `RateLimit-*`
//! headers.

use uuid::Uuid;
use zekka_platform::Problem;

use crate::app::state::CommandState;

/// Counts one call of an auth route (refresh, password reset,
/// verification) against the caller's address.
///
/// # Errors
/// 429 when over `RATE_LIMIT_AUTH`.
pub async fn auth_requests(state: &CommandState, req: &poem::Request) -> Result<(), Problem> {
    state
        .limiter
        .hit(
            "auth",
            &zekka_platform::http::client_ip(req),
            state.config.limits.auth_per_ip,
            "authentication requests",
        )
        .await
}

/// Counts one write by `user` against `RATE_LIMIT_WRITES`.
///
/// # Errors
/// 429 when over the limit.
pub async fn writes(state: &CommandState, user: Uuid) -> Result<(), Problem> {
    state
        .limiter
        .hit(
            "writes",
            &user.to_string(),
            state.config.limits.writes_per_user,
            "writes",
        )
        .await
}
