//! The command routes, one module per resource.

pub mod account;
pub mod agents;
pub mod api_keys;
pub mod auth;
pub mod conflicts;
pub mod conversations;
pub mod execution;
pub mod invitations;
pub mod locks;
pub mod preferences;
pub mod pricing;
pub mod privacy;
pub mod profile;
pub mod projections;
pub mod projects;
pub mod sources;
pub mod verifications;
pub mod webhooks;
pub mod work;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, Tags};
use uuid::Uuid;

/// OpenAPI tags of the command routes.
#[derive(Tags)]
pub enum CommandTags {
    /// Registration and sign-in.
    Auth,
    /// The signed-in person's own account: name, password, sessions.
    Account,
    /// Creating and changing projects.
    Projects,
    /// Conversations and messages.
    Conversations,
    /// A user's preferences.
    Preferences,
    /// Model prices.
    Pricing,
    /// Directing agents, and agent processes taking their work.
    Agents,
    /// Running projects through their stages.
    Execution,
    /// Reporting and settling conflicts.
    Conflicts,
    /// A project's files and folders.
    Sources,
    /// Erasure of personal data.
    Privacy,
    /// Verifying the audit trail (auditors and admins).
    Audit,
    /// Operating the backend (system admins).
    Operations,
}

/// A write that was accepted: the resource and the token to read it back.
#[derive(Debug, Object)]
pub struct Written {
    /// The resource written.
    pub id: Uuid,
    /// Send back in `X-Consistency-Token` to read this write.
    pub consistency_token: String,
}

impl Written {
    /// The 200 answer for a write of `id` ending at `token`.
    pub fn ok(id: Uuid, token: String) -> WrittenResponse {
        WrittenResponse::Ok(
            Json(Written {
                id,
                consistency_token: token.clone(),
            }),
            token,
        )
    }
}

/// 200 with the written resource's id.
#[derive(ApiResponse)]
pub enum WrittenResponse {
    /// The change was recorded.
    #[oai(status = 200)]
    Ok(Json<Written>, #[oai(header = "X-Consistency-Token")] String),
}

/// 204, with the consistency token in a header.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done(#[oai(header = "X-Consistency-Token")] String),
}
