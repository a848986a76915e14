//! An arbitrator that asks a model on an Ollama-compatible server
//! (`POST /api/generate`, `OLLAMA_URL`). The model must answer a JSON
//! object; the answer is validated before anything is recorded: a decision
//! of `resolve` names one of the conflict's agents and says what stands, or
//! `escalate` says why a person must decide. Anything else is a failed
//! attempt, and the chain moves on.

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;
use zekka_domain::conflict::Strategy;

use super::{Arbitrator, Case, Failure, Reply, Verdict};

/// The longest resolution text kept from a model.
const MAX_RESOLUTION_CHARS: usize = 10_000;

/// One model on an Ollama-compatible server.
pub struct OllamaArbitrator {
    client: reqwest::Client,
    base_url: String,
    model: String,
}

impl OllamaArbitrator {
    /// Asks `model` at `base_url` (`http://host:port` or `https://…`)
    /// through `client` (shared: it keeps connections open between decisions).
    pub fn new(client: reqwest::Client, base_url: &str, model: &str) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
        }
    }

    fn prompt(case: &Case) -> String {
        let agents: Vec<String> = case.agent_ids.iter().map(Uuid::to_string).collect();
        format!(
            "You arbitrate conflicts between AI agents working on one software project.\n\
             Conflict kind: {:?}\nFile: {}\nAgents: {}\nWhat happened: {}\n\n\
             Answer with one JSON object only: {{\"decision\": \"resolve\", \"winner_agent_id\": \
             \"<one of the agents>\", \"resolution\": \"<what stands, for the team>\"}} or \
             {{\"decision\": \"escalate\", \"reason\": \"<why a person must decide>\"}}.",
            case.kind,
            case.file_path.as_deref().unwrap_or("none"),
            agents.join(", "),
            case.description
        )
    }
}

/// Reads the model's answer into a verdict, refusing anything malformed.
pub fn verdict_of(answer: &str, case: &Case) -> Result<Verdict, String> {
    let value: Value =
        serde_json::from_str(answer.trim()).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let text = |field: &str| value.get(field).and_then(Value::as_str).map(str::trim);
    match text("decision") {
        Some("resolve") => {
            let winner: Uuid = text("winner_agent_id")
                .and_then(|id| id.parse().ok())
                .ok_or("`winner_agent_id` is not a UUID")?;
            if !case.agent_ids.contains(&winner) {
                return Err(format!(
                    "`winner_agent_id` {winner} is not one of the conflict's agents"
                ));
            }
            let resolution = text("resolution")
                .filter(|r| !r.is_empty())
                .ok_or("`resolution` is missing")?;
            if resolution.chars().count() > MAX_RESOLUTION_CHARS
                || resolution.chars().any(|c| c.is_control() && c != '\n')
            {
                return Err("`resolution` is too long or holds control characters".to_owned());
            }
            Ok(Verdict::Resolve {
                strategy: Strategy::Arbitrator,
                resolution: format!("agent {winner}'s change stands: {resolution}"),
            })
        }
        Some("escalate") => Ok(Verdict::Decline(
            text("reason")
                .filter(|r| !r.is_empty())
                .unwrap_or("the model asks for a person")
                .chars()
                .take(MAX_RESOLUTION_CHARS)
                .collect(),
        )),
        _ => Err("`decision` must be \"resolve\" or \"escalate\"".to_owned()),
    }
}

#[async_trait]
impl Arbitrator for OllamaArbitrator {
    fn name(&self) -> &str {
        &self.model
    }

    async fn decide(&self, case: &Case) -> Result<Reply, Failure> {
        let request = json!({
            "model": self.model,
            "prompt": Self::prompt(case),
            "stream": false,
            "format": "json",
        });
        let answer = self
            .client
            .post(format!("{}/api/generate", self.base_url))
            .json(&request)
            .send()
            .await
            .map_err(|e| Failure::unspent(format!("cannot reach {}: {}", self.base_url, error_chain(&e))))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(Failure::unspent(format!("the model's server answered {status}")));
        }
        let body: Value = answer
            .json()
            .await
            .map_err(|e| Failure::unspent(format!("the model's answer is not JSON: {e}")))?;
        let count = |field: &str| body.get(field).and_then(Value::as_u64).unwrap_or(0);
        let (input_tokens, output_tokens) = (count("prompt_eval_count"), count("eval_count"));
        let text = body.get("response").and_then(Value::as_str).unwrap_or_default();
        match verdict_of(text, case) {
            Ok(verdict) => Ok(Reply {
                verdict,
                input_tokens,
                output_tokens,
            }),
            Err(reason) => Err(Failure {
                reason: format!("invalid answer: {reason}"),
                input_tokens,
                output_tokens,
            }),
        }
    }
}

/// `error` with its causes (reqwest's own message names only the outermost).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The HTTP client of the model servers: TLS through rustls with the
/// public roots, plus `extra_root` (a PEM file, `OLLAMA_CA_CERT`) for a
/// server behind a private CA.
///
/// # Errors
/// When the PEM file cannot be read or holds no certificate.
pub fn http_client(extra_root: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("zekka/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = extra_root {
        let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("OLLAMA_CA_CERT {path}: {e}"))?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow::anyhow!("OLLAMA_CA_CERT {path} holds no PEM certificate: {e}"))?
        {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the model servers' HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use zekka_domain::conflict::ConflictKind;

    use super::*;

    fn case() -> Case {
        Case {
            kind: ConflictKind::Design,
            description: "two designs".into(),
            agent_ids: vec![Uuid::from_u128(1), Uuid::from_u128(2)],
            file_path: None,
            first_lock_holder: None,
        }
    }

    #[test]
    fn an_answer_resolves_only_for_one_of_the_agents_with_a_resolution() {
        let winner = Uuid::from_u128(2);
        let good =
            format!(r#"{{"decision": "resolve", "winner_agent_id": "{winner}", "resolution": "keep B"}}"#);
        assert!(matches!(verdict_of(&good, &case()), Ok(Verdict::Resolve { .. })));
        let escalate = r#"{"decision": "escalate", "reason": "needs the product owner"}"#;
        assert_eq!(
            verdict_of(escalate, &case()),
            Ok(Verdict::Decline("needs the product owner".into()))
        );
        let stranger = format!(
            r#"{{"decision": "resolve", "winner_agent_id": "{}", "resolution": "x"}}"#,
            Uuid::from_u128(9)
        );
        for bad in [
            "not json",
            r#"{"decision": "toss a coin"}"#,
            r#"{"decision": "resolve", "winner_agent_id": "nope", "resolution": "x"}"#,
            &stranger,
            &format!(r#"{{"decision": "resolve", "winner_agent_id": "{winner}", "resolution": "  "}}"#),
        ] {
            assert!(verdict_of(bad, &case()).is_err(), "{bad}");
        }
    }
}
