//! The lease sweeper: lapses the leases that ended without a heartbeat, by
//! command (so the audit shows each lapse), found through `rm_tasks`.

use chrono::{DateTime, SubsecRound, Utc};
use cqrs_es::AggregateError;
use uuid::Uuid;
use zekka_domain::task::TaskCommand;

use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::state::CommandState;

/// Leases lapsed per sweep at most (the rest on the next).
const PER_SWEEP: i64 = 100;

/// The time now as leases hold it: whole milliseconds, so a lease read back
/// from the read model equals the one in the event.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// When a lease taken now ends.
pub fn lease_from(state: &CommandState, now: DateTime<Utc>) -> DateTime<Utc> {
    let lease = chrono::Duration::from_std(state.config.execution_lease).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(lease).unwrap_or(now).trunc_subsecs(3)
}

/// Lapses the ended leases the read model shows; how many it lapsed.
///
/// # Errors
/// When the database fails.
pub async fn lapse_ended(state: &CommandState) -> Result<usize, AppError> {
    let client = state.lookup_connection().await?;
    let ended = client
        .query(
            "SELECT task_id, lease_until FROM rm_tasks
              WHERE lease_until < now() AND outcome = 'open'
              ORDER BY lease_until LIMIT $1",
            &[&PER_SWEEP],
        )
        .await?;
    drop(client);
    let context = CommandContext::operator("lease sweeper");
    let mut lapsed = 0;
    for row in &ended {
        let task_id: Uuid = row.try_get(0)?;
        let lease_until: DateTime<Utc> = row.try_get(1)?;
        let command = TaskCommand::Lapse {
            lease_until,
            now: now(),
        };
        match dispatch::run(
            &state.tasks,
            &task_id.to_string(),
            command,
            "LapseLease",
            &context,
        )
        .await
        {
            Ok(executed) => lapsed += usize::from(executed.appended.is_some()),
            Err(AggregateError::UserError(_)) => {}
            Err(error) => return Err(AppError::from(error)),
        }
    }
    Ok(lapsed)
}
