//! The arbitrator chain (issue 12): a primary model that times out, a
//! fallback that resolves (recorded, its tokens charged); a chain that all
//! fails escalates; the rule-based default settles code conflicts on locked
//! files by first writer. The models are a small Ollama-compatible server
//! in the test.

use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Json;
use poem::{Route, Server, handler, post};
use serde_json::{Value, json};

use crate::support::app::{TestApp, User};
use crate::support::{spawn_app, spawn_app_with};

/// Answers as Ollama's `POST /api/generate` does, per model: `llama3.1:8b`
/// never in time, `gpt-4` with a valid decision for the first agent named
/// in the prompt, `gemini-pro` with prose instead of JSON.
#[handler]
async fn generate(Json(body): Json<Value>) -> Json<Value> {
    Json(model_answer(body).await)
}

/// What the fake models answer: `gpt-4` resolves for the first agent,
/// `gemini-pro` answers prose (invalid), any other model never answers in time.
async fn model_answer(body: Value) -> Value {
    let prompt = body["prompt"].as_str().unwrap_or_default();
    let first_agent = prompt
        .lines()
        .find_map(|line| line.strip_prefix("Agents: "))
        .and_then(|agents| agents.split(", ").next())
        .unwrap_or_default()
        .to_owned();
    match body["model"].as_str().unwrap_or_default() {
        "gpt-4" => json!({
            "model": "gpt-4",
            "response": json!({"decision": "resolve", "winner_agent_id": first_agent, "resolution": "keep the first design"}).to_string(),
            "done": true,
            "prompt_eval_count": 1200,
            "eval_count": 300,
        }),
        "gemini-pro" => json!({
            "model": "gemini-pro",
            "response": "I think the first agent is right.",
            "done": true,
            "prompt_eval_count": 100,
            "eval_count": 20,
        }),
        _ => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json!({"response": "{}", "done": true})
        }
    }
}

/// Starts the fake model server; returns its base URL.
async fn models() -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind the model server");
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied())
        .expect("local address");
    tokio::spawn(Server::new_with_acceptor(acceptor).run(Route::new().at("/api/generate", post(generate))));
    format!("http://{addr}")
}

/// Starts the fake model server over HTTPS, with the test certificate of
/// `tests/fixtures/tls`; returns its base URL. One request per connection.
async fn models_over_tls() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let certificates = CertificateDer::pem_file_iter(format!("{fixtures}/server.pem"))
        .expect("test certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("test certificate");
    let key = PrivateKeyDer::from_pem_file(format!("{fixtures}/server.key")).expect("test key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .expect("TLS configuration");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the TLS model server");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut chunk = [0_u8; 4096];
                let (head_end, length) = loop {
                    let Ok(read) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..read]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|line| {
                                let (name, value) = line.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while request.len() < head_end + length {
                    let Ok(read) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..read]);
                }
                let body: Value =
                    serde_json::from_slice(&request[head_end..head_end + length]).unwrap_or_default();
                let answer = model_answer(body).await.to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://localhost:{port}")
}

async fn report(app: &TestApp, owner: &User, body: Value) -> String {
    let reported = app
        .request("POST", "/api/v1/conflicts", Some(&owner.token), Some(&body))
        .await;
    assert_eq!(reported.status, 201, "{}", reported.text());
    reported.json()["id"].as_str().expect("id").to_owned()
}

/// Asks for arbitration and waits until the conflict is resolved or escalated.
async fn arbitrate(app: &TestApp, owner: &User, conflict: &str) -> Value {
    let started = app
        .request(
            "POST",
            &format!("/api/v1/conflicts/{conflict}/arbitrate"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text());
    for _ in 0..100 {
        let read = app
            .request(
                "GET",
                &format!("/api/v1/conflicts/{conflict}"),
                Some(&owner.token),
                None,
            )
            .await;
        let status = read.json()["status"].as_str().unwrap_or_default().to_owned();
        if status == "resolved" || status == "escalated" {
            return read.json();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the arbitration did not end");
}

/// The conflict's attempts: (model, outcome, detail, input tokens, output tokens, cost).
async fn attempts(app: &TestApp, conflict: &str) -> Vec<(String, String, String, i64, i64, String)> {
    let client = app.db.connect().await;
    client
        .query(
            "SELECT a ->> 'model', a ->> 'outcome', a ->> 'detail', (a ->> 'input_tokens')::bigint,
                    (a ->> 'output_tokens')::bigint, trim_scale((a ->> 'cost_usd')::numeric)::text
               FROM events, LATERAL (SELECT payload -> 'ArbitrationAttempted' AS a) x
              WHERE aggregate_type = 'Conflict' AND aggregate_id = $1 AND event_type = 'ArbitrationAttempted'
              ORDER BY sequence",
            &[&conflict],
        )
        .await
        .expect("attempts")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect()
}

/// A backend whose arbitrators are `chain` on the test's model server, and
/// a conflict of `kind` between two agents of one project: (app, owner,
/// project, first agent, conflict).
async fn case_for(chain: &str, kind: &str) -> (TestApp, User, String, String, String) {
    let url = models().await;
    let app = spawn_app_with(&[
        ("ARBITRATOR_CHAIN", chain),
        ("OLLAMA_URL", &url),
        ("ARBITRATOR_TIMEOUT_MS", "300"),
    ])
    .await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Arbitrated").await;
    let (a, b) = (
        app.agent(&owner, &project, "a").await,
        app.agent(&owner, &project, "b").await,
    );
    let conflict = report(
        &app,
        &owner,
        json!({"project_id": project, "kind": kind, "description": "two views", "agent_ids": [a, b]}),
    )
    .await;
    (app, owner, project, a, conflict)
}

#[tokio::test]
async fn a_primary_that_times_out_hands_over_to_a_fallback_that_resolves_and_is_charged() {
    let (app, owner, project, a, conflict) = case_for("ollama:llama3.1:8b, ollama:gpt-4", "design").await;

    let settled = arbitrate(&app, &owner, &conflict).await;
    assert_eq!(settled["status"], "resolved", "{settled}");
    assert_eq!(settled["strategy"], "arbitrator");
    assert_eq!(settled["resolved_by_model"], "gpt-4");
    assert!(
        settled["resolution"].as_str().is_some_and(|r| r.contains(&a)),
        "{settled}"
    );

    let tried = attempts(&app, &conflict).await;
    assert_eq!(tried.len(), 2, "{tried:?}");
    assert_eq!(
        (tried[0].0.as_str(), tried[0].1.as_str()),
        ("llama3.1:8b", "failed")
    );
    assert!(tried[0].2.contains("timed out"), "{tried:?}");
    // gpt-4 at 30 and 60 USD per million: 1,200 × 30 + 300 × 60, per million.
    assert_eq!(
        tried[1],
        (
            "gpt-4".into(),
            "resolved".into(),
            tried[1].2.clone(),
            1200,
            300,
            "0.054".into()
        )
    );

    // The fallback's tokens are charged to the project, on the arbitrator's nil agent.
    let client = app.db.connect().await;
    let charged: String = client
        .query_one(
            "SELECT trim_scale((payload -> 'TokenUsageRecorded' ->> 'cost_usd')::numeric)::text FROM events
              WHERE aggregate_id = $1 AND event_type = 'TokenUsageRecorded'
                AND payload -> 'TokenUsageRecorded' ->> 'agent_id' = '00000000-0000-0000-0000-000000000000'",
            &[&project],
        )
        .await
        .expect("charged")
        .get(0);
    assert_eq!(charged, "0.054");
}

#[tokio::test]
async fn a_chain_that_all_fails_escalates_and_records_each_failure() {
    let (app, owner, _, _, conflict) = case_for("ollama:gemini-pro,ollama:llama3.1:8b", "requirement").await;

    let settled = arbitrate(&app, &owner, &conflict).await;
    assert_eq!(settled["status"], "escalated", "{settled}");
    let tried = attempts(&app, &conflict).await;
    let outcomes: Vec<(&str, &str)> = tried.iter().map(|t| (t.0.as_str(), t.1.as_str())).collect();
    assert_eq!(outcomes, [("gemini-pro", "failed"), ("llama3.1:8b", "failed")]);
    assert!(tried[0].2.starts_with("invalid answer"), "{tried:?}");
    // The malformed answer still spent tokens, and they are charged.
    assert_eq!((tried[0].3, tried[0].4), (100, 20));
}

#[tokio::test]
async fn by_default_the_first_writer_of_a_locked_file_wins_and_other_conflicts_escalate() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let viewer = app.user("viewer").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Ruled").await;
    app.add_member(&owner, &project, &viewer, "viewer").await;
    let (a, b) = (
        app.agent(&owner, &project, "a").await,
        app.agent(&owner, &project, "b").await,
    );
    let locks = format!("/api/v1/projects/{project}/locks");
    let held = app
        .request(
            "POST",
            &locks,
            Some(&owner.token),
            Some(&json!({"file_path": "src/app.rs", "agent_id": b})),
        )
        .await;
    assert_eq!(held.status, 201, "{}", held.text());
    let refused = app
        .request(
            "POST",
            &locks,
            Some(&owner.token),
            Some(&json!({"file_path": "src/app.rs", "agent_id": a})),
        )
        .await
        .assert_problem(409);
    let code_conflict = refused["conflict_id"]
        .as_str()
        .expect("conflict reported")
        .to_owned();

    let path = format!("/api/v1/conflicts/{code_conflict}/arbitrate");
    app.request("POST", &path, Some(&viewer.token), None)
        .await
        .assert_problem(403);
    app.request("POST", &path, Some(&stranger.token), None)
        .await
        .assert_problem(404);
    let settled = arbitrate(&app, &owner, &code_conflict).await;
    assert_eq!(settled["status"], "resolved", "{settled}");
    assert_eq!(settled["strategy"], "first_writer");
    assert!(settled["resolved_by_model"].is_null(), "{settled}");
    assert!(
        settled["resolution"].as_str().is_some_and(|r| r.contains(&b)),
        "{settled}"
    );
    app.request("POST", &path, Some(&owner.token), None)
        .await
        .assert_problem(409);

    let design = report(
        &app,
        &owner,
        json!({"project_id": project, "kind": "design", "description": "two designs", "agent_ids": [a, b]}),
    )
    .await;
    let settled = arbitrate(&app, &owner, &design).await;
    assert_eq!(settled["status"], "escalated", "{settled}");
    let tried = attempts(&app, &design).await;
    assert_eq!((tried[0].0.as_str(), tried[0].1.as_str()), ("rules", "declined"));
    app.request(
        "POST",
        "/api/v1/conflicts/0190b5b4-0000-7000-8000-000000000000/arbitrate",
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn a_model_server_over_https_with_a_private_ca_is_asked_and_its_answer_recorded() {
    let url = models_over_tls().await;
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem");
    let app = spawn_app_with(&[
        ("ARBITRATOR_CHAIN", "ollama:gpt-4"),
        ("OLLAMA_URL", &url),
        ("OLLAMA_CA_CERT", ca),
        ("ARBITRATOR_TIMEOUT_MS", "5000"),
    ])
    .await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Over TLS").await;
    let (a, b) = (
        app.agent(&owner, &project, "a").await,
        app.agent(&owner, &project, "b").await,
    );
    let conflict = report(
        &app,
        &owner,
        json!({"project_id": project, "kind": "design", "description": "two views", "agent_ids": [a, b]}),
    )
    .await;
    let settled = arbitrate(&app, &owner, &conflict).await;
    assert_eq!(settled["status"], "resolved", "{settled}");
    let attempts = attempts(&app, &conflict).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(
        (attempts[0].0.as_str(), attempts[0].1.as_str()),
        ("gpt-4", "resolved")
    );
    assert_eq!(
        (attempts[0].3, attempts[0].4),
        (1200, 300),
        "the tokens the model reported"
    );
}

#[tokio::test]
async fn a_model_server_whose_certificate_is_not_trusted_is_a_failed_attempt_never_an_answer() {
    let url = models_over_tls().await;
    let app = spawn_app_with(&[
        ("ARBITRATOR_CHAIN", "ollama:gpt-4"),
        ("OLLAMA_URL", &url),
        ("ARBITRATOR_TIMEOUT_MS", "5000"),
    ])
    .await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Untrusted").await;
    let (a, b) = (
        app.agent(&owner, &project, "a").await,
        app.agent(&owner, &project, "b").await,
    );
    let conflict = report(
        &app,
        &owner,
        json!({"project_id": project, "kind": "design", "description": "two views", "agent_ids": [a, b]}),
    )
    .await;
    let settled = arbitrate(&app, &owner, &conflict).await;
    assert_eq!(settled["status"], "escalated", "{settled}");
    let attempts = attempts(&app, &conflict).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].1, "failed");
    assert!(
        attempts[0].2.contains("certificate") || attempts[0].2.contains("cannot reach"),
        "{attempts:?}"
    );
}
