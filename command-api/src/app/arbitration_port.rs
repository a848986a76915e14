//! The command side as the arbitration's [`Port`]: the case read from the
//! conflict's stream, attempts and outcomes recorded as conflict commands,
//! tokens charged to the project like any usage.

use async_trait::async_trait;
use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_domain::conflict::{Conflict, ConflictCommand, ConflictEvent};
use zekka_domain::project::{Project, ProjectCommand, UsageRecord};
use zekka_event_store::lookups::{locks, streams};

use crate::app::arbitration::{Case, Charge, Port, Request};
use crate::app::dispatch;
use crate::app::error::AppError;
use crate::app::prices;
use crate::app::state::CommandState;

#[async_trait]
impl Port for CommandState {
    async fn case(&self, conflict_id: Uuid) -> Result<Case, AppError> {
        case_of(self, conflict_id).await
    }

    async fn record(
        &self,
        request: &Request,
        command: ConflictCommand,
        name: &'static str,
    ) -> Result<(), AppError> {
        record(self, request, command, name).await
    }

    async fn charge(
        &self,
        request: &Request,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Result<(Decimal, Charge), AppError> {
        charge(self, request, model, input_tokens, output_tokens).await
    }

    fn timeout(&self) -> std::time::Duration {
        self.config.arbitrator_timeout
    }

    fn finished(&self, conflict: Uuid) {
        self.arbitrations.finish(conflict);
    }
}

/// Reads what the arbitrators are told of `conflict_id`.
///
/// # Errors
/// 404 when no such conflict was reported; 503 when the database fails.
async fn case_of(state: &CommandState, conflict_id: Uuid) -> Result<Case, AppError> {
    let client = state.lookup_connection().await?;
    let reported = streams::first_of_type::<Conflict>(&client, &conflict_id.to_string(), "ConflictReported")
        .await?
        .ok_or_else(|| AppError::not_found("conflict not found"))?;
    let ConflictEvent::ConflictReported {
        project_id,
        kind,
        description,
        agent_ids,
        file_path,
        ..
    } = reported
    else {
        return Err(AppError::not_found("conflict not found"));
    };
    let first_lock_holder = match &file_path {
        Some(file) => locks::first_holder(&client, project_id, file, &agent_ids).await?,
        None => None,
    };
    Ok(Case {
        kind,
        description,
        agent_ids,
        file_path,
        first_lock_holder,
    })
}

async fn record(
    state: &CommandState,
    request: &Request,
    command: ConflictCommand,
    name: &'static str,
) -> Result<(), AppError> {
    dispatch::execute::<Conflict>(
        &state.conflicts,
        &request.conflict_id.to_string(),
        command,
        name,
        &request.context,
    )
    .await
    .map(|_| ())
}

/// Charges `model`'s tokens to the project at its price now; free when it
/// spent none or has no price.
async fn charge(
    state: &CommandState,
    request: &Request,
    model: &str,
    input_tokens: u64,
    output_tokens: u64,
) -> Result<(Decimal, Charge), AppError> {
    if input_tokens == 0 && output_tokens == 0 {
        return Ok((Decimal::ZERO, Charge::Done));
    }
    let Some(price) = prices::price_at(state, model, chrono::Utc::now()).await? else {
        return Ok((Decimal::ZERO, Charge::Done));
    };
    let record = UsageRecord {
        usage_id: Uuid::now_v7(),
        actor: request.actor,
        // Arbitration is charged to no agent: the nil id stands for the arbitrator.
        agent_id: Uuid::nil(),
        model: model.to_owned(),
        input_tokens,
        output_tokens,
        conversation_id: None,
        task_id: None,
        price,
    };
    let project_key = request.project_id.to_string();
    let outcome = dispatch::run_serialized::<Project, _, _, AppError>(
        &state.write_locks,
        request.project_id,
        &state.projects,
        &project_key,
        "RecordTokenUsage",
        &request.context,
        |_| false,
        |_| async { Ok((ProjectCommand::RecordUsage(record.clone()), None)) },
    )
    .await?;
    let cost = price.cost(input_tokens, output_tokens);
    match outcome {
        Ok(_) => Ok((cost, Charge::Done)),
        Err(error) => Ok((
            Decimal::ZERO,
            Charge::Refused(format!("its tokens could not be charged: {error}")),
        )),
    }
}
