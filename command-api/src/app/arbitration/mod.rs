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

use crate::app::error::AppError;
use async_trait::async_trait;
use rust_decimal::Decimal;
use uuid::Uuid;
use zekka_domain::conflict::{ArbitrationOutcome, ConflictCommand, ConflictKind, Strategy};
use zekka_domain::pricing::ModelName;
use zekka_domain::shared::access::ProjectAccess;
use zekka_domain::shared::text::Detail;
use zekka_platform::Config;

use crate::app::dispatch::CommandContext;

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

/// The chain `config` names; model servers are asked through `client`.
pub fn chain(config: &Config, client: &reqwest::Client) -> Vec<Arc<dyn Arbitrator>> {
    config
        .arbitrator_chain
        .iter()
        .map(|step| -> Arc<dyn Arbitrator> {
            match step.strip_prefix("ollama:") {
                Some(model) => Arc::new(ollama::OllamaArbitrator::new(
                    client.clone(),
                    &config.ollama_url,
                    model.trim(),
                )),
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

    /// Marks `conflict` as no longer running.
    pub fn finish(&self, conflict: Uuid) {
        if let Ok(mut running) = self.0.lock() {
            running.remove(&conflict);
        }
    }
}

/// Whether an attempt's tokens could be charged.
pub enum Charge {
    /// Charged (or free).
    Done,
    /// Refused, with why (the budget ran out, say).
    Refused(String),
}

/// What an arbitration needs from the command side: the case, recording
/// its attempts and outcome, charging the tokens a model spent. The command
/// side implements it over its state (`crate::app::arbitration_port`); tests
/// implement it in memory.
#[async_trait]
pub trait Port: Send + Sync {
    /// What the arbitrators are told of `conflict_id`.
    ///
    /// # Errors
    /// 404 when no such conflict was reported; 503 when the database fails.
    async fn case(&self, conflict_id: Uuid) -> Result<Case, AppError>;

    /// Records `command` (named `name`) on the request's conflict.
    ///
    /// # Errors
    /// The command's refusal, or the database's failure.
    async fn record(
        &self,
        request: &Request,
        command: ConflictCommand,
        name: &'static str,
    ) -> Result<(), AppError>;

    /// Charges `model`'s tokens to the request's project at its price now:
    /// the cost, and whether it could be charged.
    ///
    /// # Errors
    /// When the database fails.
    async fn charge(
        &self,
        request: &Request,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Result<(Decimal, Charge), AppError>;

    /// How long one arbitrator may take.
    fn timeout(&self) -> std::time::Duration;

    /// The run on `conflict` ended (another may start).
    fn finished(&self, conflict: Uuid);
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

/// Runs the chain on `request`'s conflict to its end (resolved or
/// escalated). Failures to record are logged: the conflict then stays as
/// it was and may be arbitrated again.
pub async fn run(port: Arc<dyn Port>, chain: Vec<Arc<dyn Arbitrator>>, request: Request) {
    let conflict = request.conflict_id;
    if let Err(error) = run_chain(port.as_ref(), &chain, &request).await {
        tracing::warn!(%conflict, %error, "arbitration stopped");
    }
    port.finished(conflict);
}

async fn run_chain(
    port: &dyn Port,
    chain: &[Arc<dyn Arbitrator>],
    request: &Request,
) -> Result<(), AppError> {
    let case = port.case(request.conflict_id).await?;
    let timeout = port.timeout();
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
        let (cost_usd, charged) = port.charge(request, &name, input, output).await?;
        let (outcome, detail, verdict) = match charged {
            Charge::Refused(reason) => (ArbitrationOutcome::Failed, reason, None),
            Charge::Done => (outcome, detail, verdict),
        };
        port.record(
            request,
            ConflictCommand::RecordArbitrationAttempt {
                model: name.clone(),
                outcome,
                detail: Detail::parse("detail", &truncated(&detail)).map_err(AppError::invalid_field)?,
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
            return port
                .record(
                    request,
                    ConflictCommand::Resolve {
                        strategy,
                        resolution: Detail::parse("resolution", &truncated(&resolution))
                            .map_err(AppError::invalid_field)?,
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
    port.record(
        request,
        ConflictCommand::Escalate {
            reason: Detail::parse(
                "reason",
                &format!("no arbitrator of the chain ({}) settled it", names.join(", ")),
            )
            .map_err(AppError::invalid_field)?,
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

#[cfg(test)]
mod tests;
