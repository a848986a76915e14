//! The HTTP edge of the write side: routes parse requests into the
//! application's commands, call [`crate::app`], and answer. Nothing below
//! `app/` knows poem; everything HTTP (problem answers, rate limits per
//! address, `Idempotency-Key`) lives here.
//!
//! # Layout
//! - [`routes`]: the routes, one file per area.
//! - [`problem`]: the one map from application failures onto problem answers.
//! - [`fields`]: parsing a request's fields all at once.
//! - [`limits`]: rate limits per address and per user.
//! - [`idempotency`]: `Idempotency-Key` on writes.

pub mod fields;
pub mod idempotency;
pub mod limits;
pub mod problem;
pub mod routes;

use poem::Request;
use uuid::Uuid;
use zekka_platform::http::{ClientInfo, RequestId};

use crate::app::dispatch::CommandContext;

/// The command context of `req`, acting as `actor`: the request's
/// correlation id and the client's address and user agent.
pub fn context(req: &Request, actor: Option<Uuid>) -> CommandContext {
    CommandContext {
        actor,
        api_key: None,
        request_id: req
            .data::<RequestId>()
            .map_or_else(|| Uuid::now_v7().to_string(), |id| id.0.clone()),
        client: req.data::<ClientInfo>().cloned().unwrap_or_default(),
        causation_id: None,
    }
}
