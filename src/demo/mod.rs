//! `zekka demo`: fills a running backend, through its public HTTP API only,
//! with a small but realistic data set — three people, two projects with
//! budgets, conversations, agents working through the workflow stages,
//! token usage across paid and local models (including an agent that runs
//! out of budget and falls back to the cheapest allowed model), and
//! conflicts resolved by an arbitrator, by the first writer, by a person,
//! and one still open — and a third project run by the orchestrator through
//! all ten stages, with the demo playing its agent processes (a lease left
//! to lapse, a conflict escalated and resolved, a model switch as the
//! budget runs low) — so a newcomer sees analytics at once.
//!
//! Everything goes through the same routes the frontend uses; nothing is
//! written to the database directly. Running it again signs in to the
//! accounts made the first time and adds two more projects.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use zekka_client::{Answer, Connection, Method, Server};

mod api;
mod execution;
mod script;

use api::{Api, Session};
pub use script::planned_steps;
use script::*;

/// How many times a request refused with `429`/`503` is tried again.
const MAX_RETRIES: u32 = 10;
/// The longest pause between two tries, whatever `Retry-After` says.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// What to fill, and where.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The backend's base URL.
    pub server: Server,
    /// The password of the demo accounts (at least 12 characters).
    pub password: String,
    /// Draw a progress bar on standard error (hidden when it is not a terminal).
    pub progress: bool,
}

/// What the demo made, for the closing summary.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// The demo accounts' emails; the first owns the projects.
    pub emails: Vec<String>,
    /// The projects made, by id.
    pub projects: Vec<String>,
    /// The steps taken (each one API call, or two when a budget refusal
    /// made the agent fall back to another model).
    pub steps: u64,
    /// A consistency token for the last write: a query that sends it sees
    /// everything the demo wrote.
    pub consistency_token: String,
}

fn id_of(value: &Value, field: &str) -> Result<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the answer has no `{field}`: {value}"))
}

/// Fills the backend at `options.server`.
///
/// # Errors
/// When the backend cannot be reached or refuses a step (the error names the
/// request and shows the problem document).
pub async fn run(options: DemoOptions) -> Result<DemoSummary> {
    let progress = if options.progress {
        ProgressBar::new(planned_steps())
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} filling the demo [{bar:40}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut api = Api {
        server: options.server,
        connection: None,
        progress,
        steps: 0,
        last_token: String::new(),
    };

    let mut people = Vec::new();
    for person in &PEOPLE {
        people.push(api.sign_in(person, &options.password).await?);
    }
    let owner = &people[0];
    let mut projects = Vec::new();
    let mut usage_counter = 0_u64;
    for spec in &PROJECTS {
        projects.push(fill_project(&mut api, spec, owner, &people, &mut usage_counter).await?);
    }
    projects.push(execution::run_executed_project(&mut api, owner).await?);
    api.step(
        Method::PUT,
        "/api/v1/preferences",
        &owner.token,
        json!({"theme": "dark", "default_model": "claude-sonnet"}),
        200,
    )
    .await?;
    api.progress.finish_and_clear();
    Ok(DemoSummary {
        emails: PEOPLE.iter().map(|p| p.email.to_owned()).collect(),
        projects,
        steps: api.steps,
        consistency_token: api.last_token,
    })
}

async fn fill_project(
    api: &mut Api,
    spec: &ProjectSpec,
    owner: &Session,
    people: &[Session],
    usage_counter: &mut u64,
) -> Result<String> {
    let token = owner.token.as_str();
    api.progress.set_message(spec.name);
    let project = api
        .step(
            Method::POST,
            "/api/v1/projects",
            token,
            json!({"name": spec.name, "description": spec.description, "budget_usd": spec.budget_usd}),
            201,
        )
        .await?;
    let project = id_of(&project, "id")?;
    for (person, role) in spec.members {
        api.step(
            Method::POST,
            &format!("/api/v1/projects/{project}/members"),
            token,
            json!({"user_id": people[*person].user_id, "role": role}),
            200,
        )
        .await?;
    }
    let mut agents = Vec::new();
    let mut agent_keys: Vec<String> = Vec::new();
    for agent in spec.agents {
        let made = api
            .step(
                Method::POST,
                "/api/v1/agents",
                token,
                json!({"project_id": project, "name": agent.name, "kind": agent.kind,
                       "stage": agent.stage, "model": agent.model}),
                201,
            )
            .await?;
        let agent_id = id_of(&made, "id")?;
        // Agents speak with keys of their own: a person's token writes as
        // that person (CONTRACT.md, "Hostile input").
        let key = api
            .step(
                Method::POST,
                &format!("/api/v1/projects/{project}/api-keys"),
                token,
                json!({"name": format!("{} messages", agent.name), "scopes": ["messages:write"],
                       "agent_id": agent_id}),
                201,
            )
            .await?;
        agent_keys.push(id_of(&key, "key")?);
        agents.push(agent_id);
    }
    for conversation in spec.conversations {
        let made = api
            .step(
                Method::POST,
                "/api/v1/conversations",
                token,
                json!({"project_id": project, "title": conversation.title}),
                201,
            )
            .await?;
        let conversation_id = id_of(&made, "id")?;
        let path = format!("/api/v1/conversations/{conversation_id}/messages");
        for (speaker, text) in conversation.messages {
            let (bearer, body) = match speaker {
                Some(agent) => (agent_keys[*agent].as_str(), json!({"content": text})),
                None => (token, json!({"content": text})),
            };
            api.step(Method::POST, &path, bearer, body, 201).await?;
        }
    }

    let mut stage = "requirements";
    for task in spec.tasks {
        if task.stage != stage {
            api.step(
                Method::POST,
                &format!("/api/v1/projects/{project}/stage"),
                token,
                json!({"stage": task.stage}),
                200,
            )
            .await?;
            stage = task.stage;
        }
        let agent = &agents[task.agent];
        let model = spec.agents[task.agent].model;
        work_on_task(api, token, agent, model, task, usage_counter).await?;
    }

    for conflict in spec.conflicts {
        let mut body = json!({"project_id": project, "kind": conflict.kind, "description": conflict.description,
                              "agent_ids": [agents[conflict.agents[0]], agents[conflict.agents[1]]]});
        if let Some(path) = conflict.file_path {
            body["file_path"] = json!(path);
        }
        let made = api
            .step(Method::POST, "/api/v1/conflicts", token, body, 201)
            .await?;
        let id = id_of(&made, "id")?;
        let resolve = format!("/api/v1/conflicts/{id}/resolve");
        match conflict.ending {
            Ending::Open => {}
            Ending::Arbitrated(resolution, model) => {
                let body =
                    json!({"strategy": "arbitrator", "resolution": resolution, "resolved_by_model": model});
                api.step(Method::POST, &resolve, token, body, 200).await?;
            }
            Ending::FirstWriter(resolution) => {
                let body = json!({"strategy": "first_writer", "resolution": resolution});
                api.step(Method::POST, &resolve, token, body, 200).await?;
            }
            Ending::Escalated(reason, resolution) => {
                api.step(
                    Method::POST,
                    &format!("/api/v1/conflicts/{id}/escalate"),
                    token,
                    json!({"reason": reason}),
                    200,
                )
                .await?;
                let body = json!({"strategy": "manual", "resolution": resolution});
                api.step(Method::POST, &resolve, token, body, 200).await?;
            }
        }
    }
    Ok(project)
}

async fn work_on_task(
    api: &mut Api,
    token: &str,
    agent: &str,
    model: &str,
    task: &TaskSpec,
    usage_counter: &mut u64,
) -> Result<()> {
    let status = format!("/api/v1/agents/{agent}/status");
    api.step(
        Method::POST,
        &status,
        token,
        json!({"status": "working", "detail": task.title}),
        200,
    )
    .await?;
    let assigned = api
        .step(
            Method::POST,
            &format!("/api/v1/agents/{agent}/tasks"),
            token,
            json!({"title": task.title, "stage": task.stage}),
            201,
        )
        .await?;
    let task_id = id_of(&assigned, "task_id")?;
    let usage = format!("/api/v1/agents/{agent}/usage");
    let mut model = model.to_owned();
    for (input, output) in task.usage {
        // A little variety, the same on every run.
        *usage_counter += 1;
        let jitter = (*usage_counter * 7_919) % 1_000;
        let body = json!({"model": model, "input_tokens": input + jitter, "output_tokens": output + jitter / 4,
                          "task_id": task_id});
        let answer = api.send(Method::POST, &usage, Some(token), Some(&body)).await?;
        if answer.status == 402 {
            // Out of budget: carry on with the cheapest model still allowed,
            // as an agent process would.
            let problem = answer.json(402, &usage)?;
            model = id_of(&problem, "cheapest_model")?;
            let mut body = body;
            body["model"] = json!(model);
            api.step(Method::POST, &usage, token, body, 201).await?;
        } else {
            let value = answer.json(201, &usage)?;
            api.done(&value);
        }
    }
    let outcome = if task.succeeded { "succeeded" } else { "failed" };
    api.step(
        Method::POST,
        &format!("/api/v1/agents/{agent}/tasks/{task_id}/complete"),
        token,
        json!({"outcome": outcome}),
        200,
    )
    .await?;
    api.step(Method::POST, &status, token, json!({"status": "idle"}), 200)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_stage_is_a_workflow_stage_in_order() {
        let order = [
            "requirements",
            "architecture",
            "database",
            "api",
            "frontend",
            "integration",
            "testing",
            "documentation",
            "deployment",
            "quality_assurance",
        ];
        for project in &PROJECTS {
            let positions: Vec<usize> = project
                .tasks
                .iter()
                .map(|t| order.iter().position(|s| *s == t.stage).unwrap_or(usize::MAX))
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] <= w[1] && w[1] <= w[0] + 1),
                "{}",
                project.name
            );
            assert_eq!(positions.first(), Some(&0), "{}", project.name);
        }
    }
}
