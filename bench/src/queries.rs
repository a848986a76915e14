//! `queries`: project stats and the analytics routes at a fixed rate, over a
//! project with a history (usage on several models and agents, messages,
//! days of data), p99 across all routes and per route.

use std::sync::Arc;
use std::time::Duration;
use zekka_client::Server;

use anyhow::Result;
use serde_json::{Value, json};
use zekka_client::{Connection, Method};

use crate::load::{self, Call, Plan, RoundRobinReads};
use crate::report;
use crate::setup::{create, signed_in_user};

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Requests per second.
    pub rate: f64,
    /// Seconds to run.
    pub seconds: u64,
    /// Connections sending.
    pub connections: usize,
    /// Usage records in the project's history.
    pub usage_records: usize,
}

/// The routes read, with `{p}` for the project.
const ROUTES: &[&str] = &[
    "/api/v1/projects/{p}/stats",
    "/api/v1/analytics/metrics",
    "/api/v1/analytics/costs?project_id={p}",
    "/api/v1/analytics/costs/breakdown?project_id={p}",
    "/api/v1/analytics/tokens?project_id={p}",
    "/api/v1/analytics/agents?project_id={p}",
    "/api/v1/analytics/tasks?project_id={p}",
];

/// One route at a time: what each costs.
struct OneRoute {
    token: Arc<str>,
    path: String,
}

impl Plan for OneRoute {
    fn call(&self, _worker: usize, _n: u64) -> Call {
        Call {
            method: Method::GET,
            path: self.path.clone(),
            token: Some(self.token.clone()),
            body: None,
            expect: 200,
        }
    }
}

async fn history(connection: &mut Connection, token: &str, records: usize) -> Result<String> {
    let project = create(connection, token, "/api/v1/projects", &json!({"name": "Queries"})).await?;
    let conversation = create(
        connection,
        token,
        "/api/v1/conversations",
        &json!({"project_id": project, "title": "History"}),
    )
    .await?;
    let mut agents = Vec::new();
    for (n, kind) in ["developer", "architect", "reviewer", "tester"]
        .iter()
        .enumerate()
    {
        agents.push(
            create(
                connection,
                token,
                "/api/v1/agents",
                &json!({"project_id": project, "name": format!("{kind} {n}"), "kind": kind, "model": "claude-sonnet"}),
            )
            .await?,
        );
    }
    let models = ["claude-sonnet", "gpt-4", "llama3.1:8b"];
    for n in 0..records {
        let agent = &agents[n % agents.len()];
        let body = json!({
            "model": models[n % models.len()],
            "input_tokens": 100 + n * 7 % 5000,
            "output_tokens": 50 + n * 3 % 2000,
            "conversation_id": conversation,
        });
        connection
            .send(
                Method::POST,
                &format!("/api/v1/agents/{agent}/usage"),
                Some(token),
                Some(&body),
            )
            .await?
            .json(201, "usage")?;
        if n % 5 == 0 {
            connection
                .send(
                    Method::POST,
                    &format!("/api/v1/conversations/{conversation}/messages"),
                    Some(token),
                    Some(&json!({"content": format!("history {n}")})),
                )
                .await?
                .json(201, "message")?;
        }
    }
    Ok(project)
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server cannot be reached or setup is refused.
pub async fn run(options: Options) -> Result<()> {
    let mut connection = Connection::open(&options.server)?;
    let token: Arc<str> = signed_in_user(&mut connection).await?.into();
    let project = history(&mut connection, &token, options.usage_records).await?;
    // Let the projectors catch up with the history before reading it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let paths: Vec<String> = ROUTES.iter().map(|r| r.replace("{p}", &project)).collect();
    let mut per_route = serde_json::Map::new();
    report::print_header();
    for path in &paths {
        let plan: Arc<dyn Plan> = Arc::new(OneRoute {
            token: token.clone(),
            path: path.clone(),
        });
        let alone = load::fixed_rate(&options.server, plan, 4, 200.0, Duration::from_secs(3)).await?;
        let route = path.split('?').next().unwrap_or(path).replace(&project, "{id}");
        report::print_row(
            &route.replace("/api/v1/", ""),
            &alone.latency,
            alone.elapsed.as_secs_f64(),
        );
        per_route.insert(route, alone.summary());
    }
    let plan: Arc<dyn Plan> = Arc::new(RoundRobinReads { token, paths });
    let duration = Duration::from_secs(options.seconds);
    let mixed = load::fixed_rate(&options.server, plan, options.connections, options.rate, duration).await?;
    report::print_row("mixed", &mixed.latency, mixed.elapsed.as_secs_f64());
    let result = json!({
        "scenario": "queries",
        "rate": options.rate,
        "seconds": options.seconds,
        "usage_records": options.usage_records,
        "mixed": mixed.summary(),
        "per_route_at_200_per_s": Value::Object(per_route),
    });
    println!("{result}");
    Ok(())
}
