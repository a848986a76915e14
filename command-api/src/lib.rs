//! command-api: every write. Authenticates the caller, validates the request
//! into a domain command, and has `cqrs-es` append the resulting events to
//! the PostgreSQL event store. Each write answers with a consistency token
//! (body field `consistency_token` and header `X-Consistency-Token`).
//!
//! # Layout
//! - [`service`]: the write side as a service: what it serves and what it runs in the background.
//! - [`app`]: the application layer: running commands and what they need, without HTTP.
//! - [`http`]: the routes, the one failure → problem map, rate limits, idempotency.
#![forbid(unsafe_code)]

pub mod app;
pub mod http;
pub mod service;

use std::sync::Arc;

pub use app::state::CommandState;
pub use service::CommandService;

/// Every command route, as one `OpenApiService` takes them.
pub type Apis = (
    http::routes::auth::AuthApi,
    http::routes::account::AccountApi,
    http::routes::projects::ProjectCommandApi,
    http::routes::api_keys::ApiKeyCommandApi,
    http::routes::locks::LockCommandApi,
    http::routes::conversations::ConversationCommandApi,
    http::routes::preferences::PreferencesCommandApi,
    http::routes::pricing::PricingCommandApi,
    http::routes::agents::AgentCommandApi,
    http::routes::conflicts::ConflictCommandApi,
    http::routes::privacy::PrivacyCommandApi,
    (
        http::routes::profile::ProfileApi,
        http::routes::invitations::InvitationApi,
        http::routes::verifications::VerificationApi,
    ),
    http::routes::projections::ProjectionCommandApi,
    http::routes::execution::ExecutionApi,
    http::routes::work::WorkApi,
    (
        http::routes::webhooks::WebhookApi,
        http::routes::sources::SourceCommandApi,
    ),
);

/// Every command route over `state`, for one `OpenApiService`.
pub fn apis(state: Arc<CommandState>) -> Apis {
    (
        http::routes::auth::AuthApi::new(state.clone()),
        http::routes::account::AccountApi::new(state.clone()),
        http::routes::projects::ProjectCommandApi::new(state.clone()),
        http::routes::api_keys::ApiKeyCommandApi::new(state.clone()),
        http::routes::locks::LockCommandApi::new(state.clone()),
        http::routes::conversations::ConversationCommandApi::new(state.clone()),
        http::routes::preferences::PreferencesCommandApi::new(state.clone()),
        http::routes::pricing::PricingCommandApi::new(state.clone()),
        http::routes::agents::AgentCommandApi::new(state.clone()),
        http::routes::conflicts::ConflictCommandApi::new(state.clone()),
        http::routes::privacy::PrivacyCommandApi::new(state.clone()),
        (
            http::routes::profile::ProfileApi::new(state.clone()),
            http::routes::invitations::InvitationApi::new(state.clone()),
            http::routes::verifications::VerificationApi::new(state.clone()),
        ),
        http::routes::projections::ProjectionCommandApi::new(state.clone()),
        http::routes::execution::ExecutionApi::new(state.clone()),
        http::routes::work::WorkApi::new(state.clone()),
        (
            http::routes::webhooks::WebhookApi::new(state.clone()),
            http::routes::sources::SourceCommandApi::new(state),
        ),
    )
}
