//! Operators' decisions, recorded as events like every other write:
//!
//! - skipping an event a projection cannot apply (a poison event), shared
//!   by the admin route (`POST /api/v1/projections/{name}/skips`) and
//!   `zekka projections skip`; the projectors read the
//!   `ProjectionEventSkipped` event and pass over it
//!   (`zekka_projectors::engine`);
//! - granting and revoking system roles (`zekka users grant-role`,
//!   `revoke-role`), the one way to make an admin or auditor besides a
//!   verified email listed in the configuration.

use zekka_domain::projection::{ProjectionCommand, SkipReason};
use zekka_domain::user::{Email, SystemRole, UserCommand};
use zekka_event_store::consistency::ConsistencyToken;
use zekka_event_store::lookups::positions;

use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::sessions;
use crate::app::state::CommandState;

/// A recorded skip.
#[derive(Debug, Clone)]
pub struct SkipRecorded {
    /// The projection.
    pub projection: String,
    /// The skipped event's global position.
    pub position: i64,
    /// Its type.
    pub event_type: String,
    /// Why.
    pub reason: String,
    /// Who decided.
    pub skipped_by: String,
    /// The position of the `ProjectionEventSkipped` event.
    pub consistency_token: ConsistencyToken,
}

/// Records that projection `name` passes over the event at `position`,
/// decided by `skipped_by` for `reason`.
///
/// # Errors
/// 404 for a projection that does not exist; 422 for a blank reason or
/// a position where no event is; 409 when the event is skipped already;
/// 503 when the database is unavailable.
pub async fn skip_event(
    state: &CommandState,
    name: &str,
    position: i64,
    reason: &str,
    skipped_by: String,
    context: &CommandContext,
) -> Result<SkipRecorded, AppError> {
    let reason = SkipReason::parse(reason).map_err(AppError::invalid_field)?;
    let known: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM projection_checkpoints WHERE name = $1 AND name NOT LIKE '%@rebuild'",
    )
    .bind(name)
    .fetch_optional(&state.pool)
    .await
    .map_err(AppError::Database)?;
    if known.is_none() {
        return Err(AppError::not_found("no such projection"));
    }
    let event_type = positions::event_type_at(&state.lookup_connection().await?, position).await?;
    let Some(event_type) = event_type else {
        return Err(AppError::invalid_field(zekka_domain::FieldError::new(
            "position",
            "no event is at this position",
        )));
    };
    let command = ProjectionCommand::SkipEvent {
        position,
        event_type: event_type.clone(),
        reason: reason.clone(),
        skipped_by: skipped_by.clone(),
    };
    let token = dispatch::execute(&state.projections, name, command, "SkipProjectionEvent", context).await?;
    tracing::warn!(projection = name, position, %event_type, %skipped_by, reason = reason.as_str(), "event skipped by an operator");
    Ok(SkipRecorded {
        projection: name.to_owned(),
        position,
        event_type,
        reason: reason.as_str().to_owned(),
        skipped_by,
        consistency_token: token,
    })
}

/// Grants (`grant`) or revokes a system role of the person with `email`.
/// Returns their user id; a role granted already (or not held, to
/// revoke) changes nothing.
///
/// # Errors
/// 422 for a malformed email; 404 when no account has it; 503 when the
/// database is unavailable.
pub async fn set_system_role(
    state: &CommandState,
    email: &str,
    role: SystemRole,
    grant: bool,
    context: &CommandContext,
) -> Result<uuid::Uuid, AppError> {
    let email = Email::parse(email).map_err(AppError::invalid_field)?;
    let user_id = sessions::find_user_by_email(state, email.as_str())
        .await?
        .and_then(|user| user.id)
        .ok_or_else(|| AppError::not_found("no account has this email"))?;
    let (command, name) = if grant {
        (UserCommand::GrantSystemRole { role }, "GrantSystemRole")
    } else {
        (UserCommand::RevokeSystemRole { role }, "RevokeSystemRole")
    };
    dispatch::execute(&state.users, &user_id.to_string(), command, name, context).await?;
    tracing::warn!(%user_id, role = role.as_str(), grant, "system role changed by an operator");
    Ok(user_id)
}
