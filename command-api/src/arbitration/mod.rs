//! The arbitrator chain behind `POST /conflicts/{id}/arbitrate`
//! (`ARBITRATOR_CHAIN`): each arbitrator in turn, each within
//! `ARBITRATOR_TIMEOUT_MS`; the first that settles the conflict resolves
//! it, naming itself; when none does, the conflict is escalated to a
//! person. Every attempt is an `ArbitrationAttempted` event (which
//! arbitrator, outcome, latency, tokens, cost), and a model's tokens are
//! charged to the project as usage, so arbitration shows in the cost
//! analytics (on the model, with the nil agent) and in the auto-resolution
//! rate.
//!
//! # Layout
//! - [`rules`]: first writer wins on locked files (the default).
//! - [`ollama`]: a model on an Ollama-compatible server.

pub mod ollama;
pub mod rules;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_domain::conflict::{
    ArbitrationOutcome, Conflict, ConflictCommand, ConflictEvent, ConflictKind, Strategy,
};
use zekka_domain::pricing::ModelName;
use zekka_domain::project::{Project, ProjectCommand, UsageRecord};
use zekka_domain::shared::access::ProjectAccess;
use zekka_domain::shared::text::Detail;
use zekka_event_store::lookups::{locks, streams};
use zekka_platform::{Config, Problem};

use crate::dispatch::{self, CommandContext};
use crate::state::CommandState;

/// What an arbitrator is told of a conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// What it is about.
    pub kind: ConflictKind,
    /// What happened.
    pub description: String,
    /// The agents involved.
    pub agent_ids: Vec<Uuid>,
    /// The file, for code conflicts.
    pub file_path: Option<String>,
    /// Of the conflict's agents, the one that locked the file first, if any did.
    pub first_lock_holder: Option<Uuid>,
}

/// What an arbitrator decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Settle the conflict so.
    Resolve {
        /// How it was settled.
        strategy: Strategy,
        /// What stands.
        resolution: String,
    },
    /// A person must decide, because…
    Decline(String),
}

/// A decision and what it cost in tokens.
#[derive(Debug)]
pub struct Reply {
    /// The decision.
    pub verdict: Verdict,
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
}

/// Why an arbitrator gave no usable decision, and the tokens it spent anyway.
#[derive(Debug)]
pub struct Failure {
    /// Why.
    pub reason: String,
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
}

impl Failure {
    /// A failure before any token was spent.
    pub fn unspent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            input_tokens: 0,
            output_tokens: 0,
        }
    }
}

/// One arbitrator of the chain.
#[async_trait]
pub trait Arbitrator: Send + Sync {
    /// What attempts record as the model: `rules`, or the model's name.
    fn name(&self) -> &str;

    /// Decides `case`.
    ///
    /// # Errors
    /// When no usable decision came (unreachable, error, invalid answer).
    async fn decide(&self, case: &Case) -> Result<Reply, Failure>;
}

/// The chain `config` names.
pub fn chain(config: &Config) -> Vec<Arc<dyn Arbitrator>> {
    config
        .arbitrator_chain
        .iter()
        .map(|step| -> Arc<dyn Arbitrator> {
            match step.strip_prefix("ollama:") {
                Some(model) => Arc::new(ollama::OllamaArbitrator::new(&config.ollama_url, model.trim())),
                None => Arc::new(rules::RuleArbitrator),
            }
        })
        .collect()
}

/// The conflicts being arbitrated in this process (one run each at a time).
#[derive(Default)]
pub struct Running(Mutex<HashSet<Uuid>>);

impl Running {
    /// Marks `conflict` as running; `false` when it already was.
    pub fn start(&self, conflict: Uuid) -> bool {
        self.0.lock().is_ok_and(|mut running| running.insert(conflict))
    }

    fn finish(&self, conflict: Uuid) {
        if let Ok(mut running) = self.0.lock() {
            running.remove(&conflict);
        }
    }
}

/// Who asked for an arbitration, and with what standing.
pub struct Request {
    /// The conflict.
    pub conflict_id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Who asked (for a key, its issuer).
    pub actor: Uuid,
    /// Their standing in the project, read when they asked.
    pub access: ProjectAccess,
    /// The request's context, for the events' metadata.
    pub context: CommandContext,
}

/// Reads what the arbitrators are told of `conflict_id`.
///
/// # Errors
/// 404 when no such conflict was reported; 503 when the database fails.
pub async fn case_of(state: &CommandState, conflict_id: Uuid) -> Result<Case, Problem> {
    let client = state.lookup_connection().await?;
    let reported = streams::first_of_type::<Conflict>(&client, &conflict_id.to_string(), "ConflictReported")
        .await?
        .ok_or_else(|| Problem::not_found("conflict not found"))?;
    let ConflictEvent::ConflictReported {
        project_id,
        kind,
        description,
        agent_ids,
        file_path,
        ..
    } = reported
    else {
        return Err(Problem::not_found("conflict not found"));
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

/// Runs the chain on `request`'s conflict to its end (resolved or
/// escalated). Failures to record are logged: the conflict then stays as
/// it was and may be arbitrated again.
pub async fn run(state: Arc<CommandState>, chain: Vec<Arc<dyn Arbitrator>>, request: Request) {
    let conflict = request.conflict_id;
    if let Err(problem) = run_chain(&state, &chain, &request).await {
        tracing::warn!(%conflict, detail = problem.detail(), "arbitration stopped");
    }
    state.arbitrations.finish(conflict);
}

async fn run_chain(
    state: &CommandState,
    chain: &[Arc<dyn Arbitrator>],
    request: &Request,
) -> Result<(), Problem> {
    let case = case_of(state, request.conflict_id).await?;
    let timeout = state.config.arbitrator_timeout;
    for arbitrator in chain {
        let name = arbitrator.name().to_owned();
        let started = Instant::now();
        let answer = tokio::time::timeout(timeout, arbitrator.decide(&case)).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (outcome, detail, verdict, input, output) = match answer {
            Err(_) => (
                ArbitrationOutcome::Failed,
                format!("timed out after {} ms", timeout.as_millis()),
                None,
                0,
                0,
            ),
            Ok(Err(failure)) => (
                ArbitrationOutcome::Failed,
                failure.reason,
                None,
                failure.input_tokens,
                failure.output_tokens,
            ),
            Ok(Ok(reply)) => match reply.verdict {
                Verdict::Resolve { strategy, resolution } => (
                    ArbitrationOutcome::Resolved,
                    resolution.clone(),
                    Some((strategy, resolution)),
                    reply.input_tokens,
                    reply.output_tokens,
                ),
                Verdict::Decline(reason) => (
                    ArbitrationOutcome::Declined,
                    reason,
                    None,
                    reply.input_tokens,
                    reply.output_tokens,
                ),
            },
        };
        let (cost_usd, charged) = charge(state, request, &name, input, output).await?;
        let (outcome, detail, verdict) = match charged {
            Charge::Refused(reason) => (ArbitrationOutcome::Failed, reason, None),
            Charge::Done => (outcome, detail, verdict),
        };
        record(
            state,
            request,
            ConflictCommand::RecordArbitrationAttempt {
                model: name.clone(),
                outcome,
                detail: Detail::parse("detail", &truncated(&detail)).map_err(Problem::invalid_field)?,
                latency_ms,
                input_tokens: input,
                output_tokens: output,
                cost_usd,
                actor: request.actor,
                access: request.access,
            },
            "RecordArbitrationAttempt",
        )
        .await?;
        if let Some((strategy, resolution)) = verdict {
            let resolved_by_model = (name != "rules").then(|| ModelName::parse(&name).ok()).flatten();
            return record(
                state,
                request,
                ConflictCommand::Resolve {
                    strategy,
                    resolution: Detail::parse("resolution", &truncated(&resolution))
                        .map_err(Problem::invalid_field)?,
                    resolved_by_model,
                    actor: request.actor,
                    access: request.access,
                },
                "ResolveConflict",
            )
            .await;
        }
    }
    let names: Vec<&str> = chain.iter().map(|a| a.name()).collect();
    record(
        state,
        request,
        ConflictCommand::Escalate {
            reason: Detail::parse(
                "reason",
                &format!("no arbitrator of the chain ({}) settled it", names.join(", ")),
            )
            .map_err(Problem::invalid_field)?,
            actor: request.actor,
            access: request.access,
        },
        "EscalateConflict",
    )
    .await
}

/// Cuts `text` to what a detail may hold.
fn truncated(text: &str) -> String {
    text.chars().take(Detail::MAX_CHARS).collect()
}

async fn record(
    state: &CommandState,
    request: &Request,
    command: ConflictCommand,
    name: &'static str,
) -> Result<(), Problem> {
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

/// Whether an attempt's tokens could be charged.
enum Charge {
    Done,
    Refused(String),
}

/// Charges `model`'s tokens to the project at its price now; free when it
/// spent none or has no price.
async fn charge(
    state: &CommandState,
    request: &Request,
    model: &str,
    input_tokens: u64,
    output_tokens: u64,
) -> Result<(Decimal, Charge), Problem> {
    if input_tokens == 0 && output_tokens == 0 {
        return Ok((Decimal::ZERO, Charge::Done));
    }
    let Some(price) = state.price_at(model, chrono::Utc::now()).await? else {
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
    let outcome = dispatch::run_serialized::<Project, _, _>(
        &state.write_locks,
        request.project_id,
        &state.projects,
        &project_key,
        "RecordTokenUsage",
        &request.context,
        |_| false,
        || async { Ok(ProjectCommand::RecordUsage(record.clone())) },
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
