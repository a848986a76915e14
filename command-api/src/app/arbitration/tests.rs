//! The chain with fake arbitrators and a fake port: each outcome of a step,
//! timeouts, charging, escalation.

use std::sync::Mutex;
use std::time::Duration;

use zekka_domain::shared::access::{ProjectAccess, Role};

use super::*;

/// A port in memory: a fixed case, the commands recorded in order, a
/// charge refused when asked to.
struct MemoryPort {
    recorded: Mutex<Vec<ConflictCommand>>,
    refuse_charges: bool,
    finished: Mutex<Vec<Uuid>>,
}

impl MemoryPort {
    fn new(refuse_charges: bool) -> Self {
        Self {
            recorded: Mutex::new(Vec::new()),
            refuse_charges,
            finished: Mutex::new(Vec::new()),
        }
    }

    fn recorded(&self) -> Vec<ConflictCommand> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Port for MemoryPort {
    async fn case(&self, _conflict_id: Uuid) -> Result<Case, AppError> {
        Ok(Case {
            kind: ConflictKind::Design,
            description: "two schemas".to_owned(),
            agent_ids: vec![Uuid::now_v7(), Uuid::now_v7()],
            file_path: None,
            first_lock_holder: None,
        })
    }

    async fn record(
        &self,
        _request: &Request,
        command: ConflictCommand,
        _name: &'static str,
    ) -> Result<(), AppError> {
        if let Ok(mut recorded) = self.recorded.lock() {
            recorded.push(command);
        }
        Ok(())
    }

    async fn charge(
        &self,
        _request: &Request,
        _model: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Result<(Decimal, Charge), AppError> {
        if self.refuse_charges && input_tokens + output_tokens > 0 {
            return Ok((Decimal::ZERO, Charge::Refused("the budget is spent".to_owned())));
        }
        Ok((Decimal::from(input_tokens + output_tokens), Charge::Done))
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(50)
    }

    fn finished(&self, conflict: Uuid) {
        if let Ok(mut finished) = self.finished.lock() {
            finished.push(conflict);
        }
    }
}

/// An arbitrator that answers what it was given (or never answers).
struct Scripted {
    name: &'static str,
    answer: Option<Result<Reply, String>>,
}

#[async_trait]
impl Arbitrator for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    async fn decide(&self, _case: &Case) -> Result<Reply, Failure> {
        match &self.answer {
            Some(Ok(reply)) => Ok(Reply {
                verdict: reply.verdict.clone(),
                input_tokens: reply.input_tokens,
                output_tokens: reply.output_tokens,
            }),
            Some(Err(reason)) => Err(Failure::unspent(reason.clone())),
            None => std::future::pending().await,
        }
    }
}

fn request() -> Request {
    Request {
        conflict_id: Uuid::now_v7(),
        project_id: Uuid::now_v7(),
        actor: Uuid::now_v7(),
        access: ProjectAccess {
            role: Some(Role::Member),
            project_archived: false,
        },
        context: CommandContext::operator("test"),
    }
}

fn resolving(name: &'static str) -> Arc<dyn Arbitrator> {
    Arc::new(Scripted {
        name,
        answer: Some(Ok(Reply {
            verdict: Verdict::Resolve {
                strategy: Strategy::Arbitrator,
                resolution: "keep the first schema".to_owned(),
            },
            input_tokens: 100,
            output_tokens: 20,
        })),
    })
}

fn outcomes(recorded: &[ConflictCommand]) -> Vec<String> {
    recorded
        .iter()
        .map(|command| match command {
            ConflictCommand::RecordArbitrationAttempt { model, outcome, .. } => {
                format!("{model}:{}", outcome.as_str())
            }
            ConflictCommand::Resolve { .. } => "resolve".to_owned(),
            ConflictCommand::Escalate { .. } => "escalate".to_owned(),
            _ => "other".to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn given_a_silent_and_a_failing_arbitrator_when_the_third_resolves_then_each_attempt_is_recorded_then_the_resolution()
 {
    let port = Arc::new(MemoryPort::new(false));
    let request = request();
    let conflict = request.conflict_id;
    let chain: Vec<Arc<dyn Arbitrator>> = vec![
        Arc::new(Scripted {
            name: "silent",
            answer: None,
        }),
        Arc::new(Scripted {
            name: "broken",
            answer: Some(Err("unreachable".to_owned())),
        }),
        resolving("qwen"),
    ];
    run(port.clone(), chain, request).await;
    assert_eq!(
        outcomes(&port.recorded()),
        ["silent:failed", "broken:failed", "qwen:resolved", "resolve"]
    );
    assert_eq!(
        port.finished.lock().map(|f| f.clone()).unwrap_or_default(),
        [conflict]
    );
}

#[tokio::test]
async fn given_no_arbitrator_settles_it_when_the_chain_ends_then_the_conflict_is_escalated() {
    let port = Arc::new(MemoryPort::new(false));
    let chain: Vec<Arc<dyn Arbitrator>> = vec![Arc::new(Scripted {
        name: "rules",
        answer: Some(Ok(Reply {
            verdict: Verdict::Decline("a person must decide".to_owned()),
            input_tokens: 0,
            output_tokens: 0,
        })),
    })];
    run(port.clone(), chain, request()).await;
    assert_eq!(outcomes(&port.recorded()), ["rules:declined", "escalate"]);
}

#[tokio::test]
async fn given_the_budget_is_spent_when_a_model_resolves_then_its_answer_is_not_used() {
    let port = Arc::new(MemoryPort::new(true));
    run(port.clone(), vec![resolving("qwen")], request()).await;
    assert_eq!(outcomes(&port.recorded()), ["qwen:failed", "escalate"]);
}
