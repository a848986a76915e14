//! command-api: every write. Authenticates the caller, validates the request
//! into a domain command, and has `cqrs-es` append the resulting events to
//! the PostgreSQL event store. Each write answers with a consistency token
//! (body field `consistency_token` and header `X-Consistency-Token`).
//!
//! # Layout
//! - [`service`]: the write side as a service: what it serves and what it runs in the background.
//! - [`accounts`]: account mail (reset and verification tokens, registration notices).
//! - [`state`]: the command side's shared state (pool, frameworks, signer).
//! - [`dispatch`]: running a command with metadata, metrics and error mapping.
//! - [`idempotency`]: `Idempotency-Key` on writes.
//! - [`sessions`]: finding accounts, starting and rotating sessions, system roles.
//! - [`conversations`]: facts conversation commands need (project access, message facts).
//! - [`keyed_lock`]: queueing writers to one aggregate inside a process.
//! - [`lockout`]: locking accounts after failed sign-ins.
//! - [`mailer`]: the mail outbox and its drain.
//! - [`prices`]: the price list charged with (price at a moment, cheapest model, defaults).
//! - [`operations`]: operators' decisions about projections (skipping a poison event).
//! - [`checkpointer`]: signing audit checkpoints of the commit order.
//! - [`arbitration`]: the arbitrator chain that settles conflicts (rules, Ollama models).
//! - [`routes`]: the HTTP routes (`auth`, `account`, `projects`, `api_keys`, `locks`, `conversations`, `preferences`, `pricing`, `agents`, `conflicts`, `privacy`, `projections`).
#![forbid(unsafe_code)]

pub mod accounts;
pub mod arbitration;
pub mod arbitration_port;
pub mod checkpointer;
pub mod conversations;
pub mod dispatch;
pub mod idempotency;
pub mod keyed_lock;
pub mod lockout;
pub mod mailer;
pub mod operations;
pub mod prices;
pub mod routes;
pub mod service;
pub mod sessions;
pub mod state;

use std::sync::Arc;

pub use service::CommandService;
pub use state::CommandState;

/// Every command route, as one `OpenApiService` takes them.
pub type Apis = (
    routes::auth::AuthApi,
    routes::account::AccountApi,
    routes::projects::ProjectCommandApi,
    routes::api_keys::ApiKeyCommandApi,
    routes::locks::LockCommandApi,
    routes::conversations::ConversationCommandApi,
    routes::preferences::PreferencesCommandApi,
    routes::pricing::PricingCommandApi,
    routes::agents::AgentCommandApi,
    routes::conflicts::ConflictCommandApi,
    routes::privacy::PrivacyCommandApi,
    routes::projections::ProjectionCommandApi,
);

/// Every command route over `state`, for one `OpenApiService`.
pub fn apis(state: Arc<CommandState>) -> Apis {
    (
        routes::auth::AuthApi::new(state.clone()),
        routes::account::AccountApi::new(state.clone()),
        routes::projects::ProjectCommandApi::new(state.clone()),
        routes::api_keys::ApiKeyCommandApi::new(state.clone()),
        routes::locks::LockCommandApi::new(state.clone()),
        routes::conversations::ConversationCommandApi::new(state.clone()),
        routes::preferences::PreferencesCommandApi::new(state.clone()),
        routes::pricing::PricingCommandApi::new(state.clone()),
        routes::agents::AgentCommandApi::new(state.clone()),
        routes::conflicts::ConflictCommandApi::new(state.clone()),
        routes::privacy::PrivacyCommandApi::new(state.clone()),
        routes::projections::ProjectionCommandApi::new(state),
    )
}
