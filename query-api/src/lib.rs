//! query-api: every read. Serves the read models the projectors build,
//! checks membership on every query, and honours `X-Consistency-Token` so a
//! client reads its own writes.
//!
//! # Layout
//! - [`service`]: the read side as a service: what it serves and what it runs in the background.
//! - [`state`]: the read side's shared state and the consistency wait.
//! - [`time_range`]: `from`/`to` filters.
//! - [`paging`]: `limit`/`cursor` paging.
//! - [`rows`]: running a query and mapping its rows.
//! - [`tabular`]: answers served as JSON or, asked for, CSV.
//! - [`visibility`]: the caller's standing in one project (member, manager, or a 404).
//! - [`realtime`]: WebSocket push (`GET /api/v1/ws`).
//! - [`replica`]: the read replica's lag, sampled into metrics.
//! - [`routes`]: the HTTP routes (`projects`, `users`, `conversations`, `preferences`, `pricing`, `agents`, `conflicts`, `analytics`, `project_analytics`, `audit`, `privacy`, `projections`).
#![forbid(unsafe_code)]

pub mod paging;
pub mod realtime;
pub mod replica;
pub mod routes;
pub mod rows;
pub mod service;
pub mod state;
pub mod tabular;
pub mod time_range;
pub mod visibility;

use std::sync::Arc;

pub use service::QueryService;
pub use state::QueryState;

/// Every query route, as one `OpenApiService` takes them.
pub type Apis = (
    routes::projects::ProjectQueryApi,
    routes::users::UserQueryApi,
    routes::conversations::ConversationQueryApi,
    routes::preferences::PreferencesQueryApi,
    routes::pricing::PricingQueryApi,
    routes::agents::AgentQueryApi,
    routes::conflicts::ConflictQueryApi,
    routes::analytics::AnalyticsApi,
    routes::project_analytics::ProjectAnalyticsApi,
    routes::audit::AuditApi,
    routes::audit::export::AuditExportApi,
    routes::privacy::PrivacyQueryApi,
    (
        routes::projections::ProjectionQueryApi,
        routes::sources::SourceQueryApi,
        routes::search::SearchApi,
    ),
);

/// Every query route over `state`, for one `OpenApiService`.
pub fn apis(state: Arc<QueryState>) -> Apis {
    (
        routes::projects::ProjectQueryApi::new(state.clone()),
        routes::users::UserQueryApi::new(state.clone()),
        routes::conversations::ConversationQueryApi::new(state.clone()),
        routes::preferences::PreferencesQueryApi::new(state.clone()),
        routes::pricing::PricingQueryApi::new(state.clone()),
        routes::agents::AgentQueryApi::new(state.clone()),
        routes::conflicts::ConflictQueryApi::new(state.clone()),
        routes::analytics::AnalyticsApi::new(state.clone()),
        routes::project_analytics::ProjectAnalyticsApi::new(state.clone()),
        routes::audit::AuditApi::new(state.clone()),
        routes::audit::export::AuditExportApi::new(state.clone()),
        routes::privacy::PrivacyQueryApi::new(state.clone()),
        (
            routes::projections::ProjectionQueryApi::new(state.clone()),
            routes::sources::SourceQueryApi::new(state.clone()),
            routes::search::SearchApi::new(state),
        ),
    )
}
