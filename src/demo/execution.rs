//! The demo's executed project: the orchestrator runs it through all ten
//! stages while the demo plays three agent processes over HTTP — claiming
//! work, heartbeating, recording usage on the model each task names, one
//! lease left to lapse, one conflict escalated and resolved, and one model
//! switch as the budget runs low.

use super::*;

/// One simulated agent process.
struct AgentProcess {
    name: &'static str,
    stage: &'static str,
    model: &'static str,
}

/// Three agents on three stages; the budget covers the first two on their
/// own models and leaves the third (on gpt-4) to be switched to a cheaper one.
const AGENTS: [AgentProcess; 3] = [
    AgentProcess {
        name: "Scout",
        stage: "requirements",
        model: "claude-sonnet",
    },
    AgentProcess {
        name: "Smith",
        stage: "api",
        model: "claude-sonnet",
    },
    AgentProcess {
        name: "Sentry",
        stage: "testing",
        model: "gpt-4",
    },
];

/// The budget of the executed project (USD).
const BUDGET_USD: &str = "0.40";

/// Tokens each task spends (the orchestrator's default estimate).
const TASK_TOKENS: (u64, u64) = (20_000, 5_000);

/// The agent that lets a lease lapse and meets a conflict.
const TROUBLED: usize = 1;

/// Steps of [`run_executed_project`]: the project, its agents, the start;
/// per task a claim, a heartbeat, its usage and its completion; the
/// conflict (reported, escalated, resolved) and the claim after the lapse.
pub(super) const EXECUTION_STEPS: u64 = 1 + AGENTS.len() as u64 + 1 + 4 * AGENTS.len() as u64 + 3 + 1;

/// How long the demo waits for a claim, and for the run to finish.
const PATIENCE: Duration = Duration::from_secs(120);

/// Runs the executed project; its id.
///
/// # Errors
/// When a step is refused or the run does not finish in time.
pub(super) async fn run_executed_project(api: &mut Api, owner: &Session) -> Result<String> {
    let token = owner.token.as_str();
    api.progress.set_message("Autopilot (an executed project)");
    let project = api
        .step(
            Method::POST,
            "/api/v1/projects",
            token,
            json!({"name": "Autopilot", "description": "Run by the orchestrator, stage by stage.",
                   "budget_usd": BUDGET_USD}),
            201,
        )
        .await?;
    let project = id_of(&project, "id")?;
    let mut agents = Vec::new();
    for agent in &AGENTS {
        let made = api
            .step(
                Method::POST,
                "/api/v1/agents",
                token,
                json!({"project_id": project, "name": agent.name, "kind": "developer",
                       "stage": agent.stage, "model": agent.model}),
                201,
            )
            .await?;
        agents.push(id_of(&made, "id")?);
    }
    api.step(
        Method::POST,
        &format!("/api/v1/projects/{project}/execution"),
        token,
        json!({}),
        202,
    )
    .await?;
    for (index, agent) in agents.iter().enumerate() {
        let mut task = claim(api, token, agent).await?;
        if index == TROUBLED {
            escalate_and_resolve(api, token, &project, &agents).await?;
            task = let_the_lease_lapse(api, token, agent, &task).await?;
        }
        finish(api, token, agent, &task).await?;
    }
    wait_for_completion(api, token, &project).await?;
    Ok(project)
}

/// Long-polls for `agent`'s next task.
async fn claim(api: &mut Api, token: &str, agent: &str) -> Result<Value> {
    let path = format!("/api/v1/agents/{agent}/work?wait_seconds=10");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let answer = api.send(Method::GET, &path, Some(token), None).await?;
        match answer.status {
            200 => {
                let task = answer.json(200, &path)?;
                api.done(&task);
                return Ok(task);
            }
            // None yet: the orchestrator has not opened the agent's stage.
            204 => {}
            // Anything else is refused: the error shows the problem.
            _ => {
                answer.json(200, &path)?;
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no task for agent {agent} within {}s", PATIENCE.as_secs());
        }
    }
}

/// A conflict between two agents, escalated to a person (the run pauses)
/// and resolved by them (it goes on).
async fn escalate_and_resolve(api: &mut Api, token: &str, project: &str, agents: &[String]) -> Result<()> {
    let reported = api
        .step(
            Method::POST,
            "/api/v1/conflicts",
            token,
            json!({"project_id": project, "kind": "design",
                   "description": "Smith wants RPC where Scout's requirements say REST",
                   "agent_ids": [agents[0], agents[TROUBLED]]}),
            201,
        )
        .await?;
    let conflict = id_of(&reported, "id")?;
    api.step(
        Method::POST,
        &format!("/api/v1/conflicts/{conflict}/escalate"),
        token,
        json!({"reason": "a design decision for a person"}),
        200,
    )
    .await?;
    api.step(
        Method::POST,
        &format!("/api/v1/conflicts/{conflict}/resolve"),
        token,
        json!({"strategy": "manual", "resolution": "REST, as the requirements say"}),
        200,
    )
    .await?;
    Ok(())
}

/// Goes silent on `task` until its lease has ended, then claims it again
/// (the orchestrator records the lapse).
async fn let_the_lease_lapse(api: &mut Api, token: &str, agent: &str, task: &Value) -> Result<Value> {
    let expires = task["lease_expires_at"]
        .as_str()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .context("the claim has no lease_expires_at")?;
    let left = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    api.progress.set_message(format!(
        "letting a lease lapse ({}s; EXECUTION_LEASE_MS sets it)",
        left.as_secs() + 1
    ));
    tokio::time::sleep(left + Duration::from_secs(1)).await;
    api.progress.set_message("");
    claim(api, token, agent).await
}

/// Heartbeats, records the task's usage on its model and completes it.
async fn finish(api: &mut Api, token: &str, agent: &str, task: &Value) -> Result<()> {
    let task_id = id_of(task, "task_id")?;
    api.step(
        Method::POST,
        &format!("/api/v1/agents/{agent}/tasks/{task_id}/heartbeat"),
        token,
        json!({}),
        200,
    )
    .await?;
    let usage = format!("/api/v1/agents/{agent}/usage");
    let model = id_of(task, "model")?;
    let body = json!({"model": model, "input_tokens": TASK_TOKENS.0, "output_tokens": TASK_TOKENS.1,
                      "task_id": task_id});
    let answer = api.send(Method::POST, &usage, Some(token), Some(&body)).await?;
    if answer.status == 402 {
        let problem = answer.json(402, &usage)?;
        let mut body = body;
        body["model"] = json!(id_of(&problem, "cheapest_model")?);
        api.step(Method::POST, &usage, token, body, 201).await?;
    } else {
        let value = answer.json(201, &usage)?;
        api.done(&value);
    }
    api.step(
        Method::POST,
        &format!("/api/v1/agents/{agent}/tasks/{task_id}/complete"),
        token,
        json!({"outcome": "succeeded"}),
        200,
    )
    .await?;
    Ok(())
}

async fn wait_for_completion(api: &mut Api, token: &str, project: &str) -> Result<()> {
    let path = format!("/api/v1/projects/{project}/execution");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let answer = api.send(Method::GET, &path, Some(token), None).await?;
        if answer.status == 200 && answer.json(200, &path)?["status"] == "completed" {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the executed project did not complete within {}s",
                PATIENCE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
