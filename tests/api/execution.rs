//! Project execution (issue 22): the orchestrator runs a project through
//! its stages while agent processes, simulated over HTTP, claim their
//! tasks, spend tokens and finish them.

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::app::{Client, User};
use crate::support::{spawn_app, spawn_app_with};

/// Registers an agent working on `stage` with `model`; its id.
async fn agent_on(
    client: &Client,
    owner: &User,
    project: &str,
    name: &str,
    stage: &str,
    model: &str,
) -> String {
    let body =
        json!({"project_id": project, "name": name, "kind": "developer", "stage": stage, "model": model});
    let registered = client
        .request("POST", "/api/v1/agents", Some(&owner.token), Some(&body))
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    registered.json()["id"].as_str().expect("id").to_owned()
}

/// Creates a project, with a budget when given; its id.
async fn project_with_budget(client: &Client, owner: &User, budget: Option<&str>) -> String {
    let created = client
        .request(
            "POST",
            "/api/v1/projects",
            Some(&owner.token),
            Some(&json!({"name": "Run", "budget_usd": budget})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_str().expect("id").to_owned()
}

/// Starts the project's execution; its id.
async fn start(client: &Client, owner: &User, project: &str) -> String {
    let started = client
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/execution"),
            Some(&owner.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text());
    started.json()["execution_id"].as_str().expect("id").to_owned()
}

async fn execution(client: &Client, user: &User, project: &str) -> Value {
    let shown = client
        .request(
            "GET",
            &format!("/api/v1/projects/{project}/execution"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    shown.json()
}

/// Waits until the execution's status is `status`; the execution.
async fn until_status(client: &Client, user: &User, project: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = client
            .request(
                "GET",
                &format!("/api/v1/projects/{project}/execution"),
                Some(&user.token),
                None,
            )
            .await;
        // 404 until the read model shows the run that was just started.
        let shown = if answer.status == 404 {
            Value::Null
        } else {
            answer.json()
        };
        if shown["status"] == status {
            return shown;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the execution never became {status}: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one simulated agent process did.
#[derive(Debug, Default)]
struct Worked {
    /// The tasks it was handed, as handed.
    tasks: Vec<Value>,
    /// What its usage cost, in total.
    cost: Decimal,
}

/// Records `tokens` of `agent`'s usage on `task_id` with `model`, falling
/// back to the model a 402 names; the cost recorded.
async fn spend(
    client: Client,
    credential: &str,
    agent: &str,
    task_id: &str,
    model: &str,
    tokens: (u64, u64),
) -> Decimal {
    let mut model = model.to_owned();
    loop {
        let usage = client
            .request(
                "POST",
                &format!("/api/v1/agents/{agent}/usage"),
                Some(credential),
                Some(&json!({"model": model, "input_tokens": tokens.0,
                             "output_tokens": tokens.1, "task_id": task_id})),
            )
            .await;
        if usage.status == 402 {
            model = usage.json()["cheapest_model"]
                .as_str()
                .expect("cheapest")
                .to_owned();
            continue;
        }
        assert_eq!(usage.status, 201, "{}", usage.text());
        return Decimal::from_str(usage.json()["cost_usd"].as_str().expect("cost")).expect("decimal");
    }
}

/// An agent process: claims work (with `credential`: a person's token or an
/// API key) until the run is over, spends `tokens` on each task's model
/// `bursts` times at once (falling back to the model a 402 names), and
/// finishes each task.
async fn agent_process(
    client: Client,
    credential: String,
    watcher: String,
    agent: String,
    project: String,
    tokens: (u64, u64),
    bursts: usize,
) -> Worked {
    let mut worked = Worked::default();
    loop {
        let work = client
            .request(
                "GET",
                &format!("/api/v1/agents/{agent}/work?wait_seconds=1"),
                Some(&credential),
                None,
            )
            .await;
        match work.status {
            200 => {
                let task = work.json();
                let task_id = task["task_id"].as_str().expect("task id").to_owned();
                let model = task["model"].as_str().expect("model").to_owned();
                let spent = futures_util::future::join_all(
                    (0..bursts).map(|_| spend(client, &credential, &agent, &task_id, &model, tokens)),
                )
                .await;
                worked.cost += spent.into_iter().sum::<Decimal>();
                let done = client
                    .request(
                        "POST",
                        &format!("/api/v1/agents/{agent}/tasks/{task_id}/complete"),
                        Some(&credential),
                        Some(&json!({"outcome": "succeeded"})),
                    )
                    .await;
                assert_eq!(done.status, 200, "{}", done.text());
                worked.tasks.push(task);
            }
            204 => {
                let shown = client
                    .request(
                        "GET",
                        &format!("/api/v1/projects/{project}/execution"),
                        Some(&watcher),
                        None,
                    )
                    .await
                    .json();
                if shown["status"] == "completed" || shown["status"] == "cancelled" {
                    return worked;
                }
            }
            other => panic!("work answered {other}: {}", work.text()),
        }
    }
}

/// The stages the project's stream records, in order.
async fn stage_history(client: &Client, owner: &User, project: &str) -> Vec<String> {
    let stream = client
        .request(
            "GET",
            &format!("/api/v1/audit/streams/Project/{project}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    stream.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| {
            item["payload"]["ProjectStageAdvanced"]["to"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_project_runs_through_all_ten_stages_with_agent_processes_over_http() {
    let app = spawn_app().await;
    let client = *app;
    let owner = app.user("owner").await;
    let project = project_with_budget(&app, &owner, None).await;
    let analyst = agent_on(&app, &owner, &project, "Analyst", "requirements", "claude-sonnet").await;
    let writer = agent_on(&app, &owner, &project, "Writer", "requirements", "gemini-pro").await;
    let builder = agent_on(&app, &owner, &project, "Builder", "api", "claude-sonnet").await;
    let tester = agent_on(&app, &owner, &project, "Tester", "testing", "gpt-4").await;
    // The builder works with its own API key, the others with the owner's token.
    let key = app
        .api_key(
            &owner,
            &project,
            json!(["tasks:write", "usage:write"]),
            Some(&builder),
        )
        .await;

    let execution_id = start(&app, &owner, &project).await;
    let processes: Vec<_> = [
        (analyst.clone(), owner.token.clone()),
        (writer.clone(), owner.token.clone()),
        (builder.clone(), key),
        (tester.clone(), owner.token.clone()),
    ]
    .into_iter()
    .map(|(agent, credential)| {
        tokio::spawn(agent_process(
            client,
            credential,
            owner.token.clone(),
            agent,
            project.clone(),
            (10_000, 2_000),
            1,
        ))
    })
    .collect();
    let mut cost = Decimal::ZERO;
    let mut stages_worked = Vec::new();
    for (process, agent) in processes.into_iter().zip([&analyst, &writer, &builder, &tester]) {
        let worked = tokio::time::timeout(Duration::from_secs(90), process)
            .await
            .expect("the agent process finished")
            .expect("it did not panic");
        assert_eq!(
            worked.tasks.len(),
            1,
            "{agent} got exactly its one task: {:?}",
            worked.tasks
        );
        stages_worked.push(worked.tasks[0]["stage"].as_str().expect("stage").to_owned());
        cost += worked.cost;
    }
    assert_eq!(stages_worked, ["requirements", "requirements", "api", "testing"]);

    let done = until_status(&app, &owner, &project, "completed").await;
    assert_eq!(done["execution_id"], execution_id.as_str());
    assert_eq!(done["stage"], "quality_assurance");
    assert_eq!(
        done["tasks"],
        json!({"open": 0, "claimed": 0, "done": 4, "failed": 0})
    );
    assert_eq!(
        Decimal::from_str(done["cost_usd"].as_str().expect("cost")).expect("decimal"),
        cost.round_dp(6)
    );
    assert!(done["finished_at"].is_string(), "{done}");
    assert_eq!(
        stage_history(&app, &owner, &project).await,
        [
            "architecture",
            "database",
            "api",
            "frontend",
            "integration",
            "testing",
            "documentation",
            "deployment",
            "quality_assurance"
        ]
    );
    let shown = app
        .request(
            "GET",
            &format!("/api/v1/projects/{project}"),
            Some(&owner.token),
            None,
        )
        .await
        .json();
    assert_eq!(shown["stage"], "quality_assurance");
    // The run is over: another may start (once the orchestrator has told
    // the project, a moment after the read model shows it completed).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let again = app
            .request(
                "POST",
                &format!("/api/v1/projects/{project}/execution"),
                Some(&owner.token),
                Some(&json!({})),
            )
            .await;
        if again.status == 202 {
            break;
        }
        assert_eq!(again.status, 409, "{}", again.text());
        assert!(
            tokio::time::Instant::now() < deadline,
            "the completed run never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_run_at_a_time_directed_by_owners_and_admins_and_hidden_from_strangers() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let stranger = app.user("stranger").await;
    let project = project_with_budget(&app, &owner, None).await;
    app.add_member(&owner, &project, &member, "member").await;
    let agent = agent_on(&app, &owner, &project, "Analyst", "requirements", "claude-sonnet").await;
    let base = format!("/api/v1/projects/{project}/execution");

    let refused = app
        .request("POST", &base, Some(&member.token), Some(&json!({})))
        .await;
    refused.assert_problem(403);
    start(&app, &owner, &project).await;
    let second = app
        .request("POST", &base, Some(&owner.token), Some(&json!({})))
        .await;
    second.assert_problem(409);
    let stage_moved = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/stage"),
            Some(&owner.token),
            Some(&json!({"stage": "architecture"})),
        )
        .await;
    stage_moved.assert_problem(409);

    // Strangers learn nothing: 404 on every route.
    let work = format!("/api/v1/agents/{agent}/work");
    let heartbeat = format!("/api/v1/agents/{agent}/tasks/{}/heartbeat", uuid::Uuid::new_v4());
    for (method, path) in [
        ("POST", base.clone()),
        ("GET", base.clone()),
        ("POST", format!("{base}/pause")),
        ("POST", format!("{base}/resume")),
        ("POST", format!("{base}/cancel")),
        ("GET", work.clone()),
        ("POST", heartbeat),
    ] {
        let answer = app
            .request(method, &path, Some(&stranger.token), Some(&json!({})))
            .await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.text());
    }
    app.request("POST", &format!("{base}/pause"), Some(&member.token), None)
        .await
        .assert_problem(403);

    // Paused: no work is handed out; resumed: it is.
    let paused = app
        .request("POST", &format!("{base}/pause"), Some(&owner.token), None)
        .await;
    assert_eq!(paused.status, 200, "{}", paused.text());
    assert_eq!(paused.json()["status"], "paused");
    let none = app
        .request("GET", &format!("{work}?wait_seconds=1"), Some(&owner.token), None)
        .await;
    assert_eq!(none.status, 204, "{}", none.text());
    let resumed = app
        .request("POST", &format!("{base}/resume"), Some(&owner.token), None)
        .await;
    assert_eq!(resumed.json()["status"], "running");
    let claimed = app
        .request(
            "GET",
            &format!("{work}?wait_seconds=10"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.text());
    assert_eq!(claimed.json()["stage"], "requirements");

    // Cancelled: its open task is cancelled and the project may run again.
    let cancelled = app
        .request("POST", &format!("{base}/cancel"), Some(&owner.token), None)
        .await;
    assert_eq!(cancelled.json()["status"], "cancelled");
    app.request("POST", &format!("{base}/cancel"), Some(&owner.token), None)
        .await
        .assert_problem(404);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let again = app
            .request("POST", &base, Some(&owner.token), Some(&json!({})))
            .await;
        if again.status == 202 {
            break;
        }
        assert_eq!(again.status, 409, "{}", again.text());
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cancelled run never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_lease_without_heartbeats_lapses_and_the_task_is_handed_out_again() {
    let app = spawn_app_with(&[("EXECUTION_LEASE_MS", "1500")]).await;
    let owner = app.user("owner").await;
    let project = project_with_budget(&app, &owner, None).await;
    let agent = agent_on(&app, &owner, &project, "Analyst", "requirements", "claude-sonnet").await;
    start(&app, &owner, &project).await;
    let work = format!("/api/v1/agents/{agent}/work?wait_seconds=10");

    let first = app.request("GET", &work, Some(&owner.token), None).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let task = first.json()["task_id"].as_str().expect("task").to_owned();
    let heartbeat = format!("/api/v1/agents/{agent}/tasks/{task}/heartbeat");
    // A heartbeat in time extends the lease.
    let kept = app.request("POST", &heartbeat, Some(&owner.token), None).await;
    assert_eq!(kept.status, 200, "{}", kept.text());
    assert!(kept.json()["lease_expires_at"].as_str() > first.json()["lease_expires_at"].as_str());

    // This process goes silent; another claim gets the task within the lease time.
    let claimed_at = tokio::time::Instant::now();
    let second = app.request("GET", &work, Some(&owner.token), None).await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["task_id"], task.as_str());
    assert!(
        claimed_at.elapsed() < Duration::from_millis(1500 + 1500),
        "handed out again {:?} after the last heartbeat",
        claimed_at.elapsed()
    );
    // Three lapses fail the task and pause the run.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let paused = loop {
        let shown = execution(&app, &owner, &project).await;
        if shown["status"] == "paused" {
            break shown;
        }
        assert!(tokio::time::Instant::now() < deadline, "never paused: {shown}");
        // Claim again whenever it is open, and never heartbeat.
        app.request(
            "GET",
            &format!("/api/v1/agents/{agent}/work?wait_seconds=0"),
            Some(&owner.token),
            None,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(paused["tasks"]["failed"], 1, "{paused}");
    assert_eq!(paused["pause_reasons"][0]["kind"], "task_failed", "{paused}");
    let gone = app.request("POST", &heartbeat, Some(&owner.token), None).await;
    gone.assert_problem(409);

    // Resumed, the failed task is handed out again.
    let resumed = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/execution/resume"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text());
    let retried = app.request("GET", &work, Some(&owner.token), None).await;
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!(retried.json()["task_id"], task.as_str());
}

#[tokio::test]
async fn an_escalated_conflict_pauses_the_run_until_it_is_resolved() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let project = project_with_budget(&app, &owner, None).await;
    let agent = agent_on(&app, &owner, &project, "Analyst", "requirements", "claude-sonnet").await;
    start(&app, &owner, &project).await;
    until_status(&app, &owner, &project, "running").await;
    let reported = app
        .request(
            "POST",
            "/api/v1/conflicts",
            Some(&owner.token),
            Some(
                &json!({"project_id": project, "kind": "design", "description": "REST or RPC",
                         "agent_ids": [agent]}),
            ),
        )
        .await;
    assert_eq!(reported.status, 201, "{}", reported.text());
    let conflict = reported.json()["id"].as_str().expect("id").to_owned();
    let escalated = app
        .request(
            "POST",
            &format!("/api/v1/conflicts/{conflict}/escalate"),
            Some(&owner.token),
            Some(&json!({"reason": "needs a person"})),
        )
        .await;
    assert_eq!(escalated.status, 200, "{}", escalated.text());
    let paused = until_status(&app, &owner, &project, "paused").await;
    assert_eq!(paused["pause_reasons"][0]["kind"], "conflict_escalated");
    assert_eq!(paused["pause_reasons"][0]["conflict_id"], conflict.as_str());

    let resolved = app
        .request(
            "POST",
            &format!("/api/v1/conflicts/{conflict}/resolve"),
            Some(&owner.token),
            Some(&json!({"strategy": "manual", "resolution": "REST"})),
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text());
    until_status(&app, &owner, &project, "running").await;
}

#[tokio::test]
async fn a_budget_that_covers_part_of_the_run_switches_models_and_is_never_overspent() {
    let app = spawn_app().await;
    let client = *app;
    let owner = app.user("owner").await;
    // Five cents: the default estimate of a task (20,000 in, 5,000 out) on
    // gpt-4 is 0.90 USD, on gemini-pro 0.0175 USD, on the local model 0.
    let project = project_with_budget(&app, &owner, Some("0.05")).await;
    let first = agent_on(&app, &owner, &project, "First", "requirements", "gpt-4").await;
    let second = agent_on(&app, &owner, &project, "Second", "requirements", "gpt-4").await;
    let third = agent_on(&app, &owner, &project, "Third", "architecture", "gpt-4").await;
    let fourth = agent_on(&app, &owner, &project, "Fourth", "api", "gpt-4").await;
    start(&app, &owner, &project).await;

    // Each agent records its usage four times at once per task: concurrent
    // records against one budget.
    let processes: Vec<_> = [&first, &second, &third, &fourth]
        .into_iter()
        .map(|agent| {
            tokio::spawn(agent_process(
                client,
                owner.token.clone(),
                owner.token.clone(),
                agent.clone(),
                project.clone(),
                (5_000, 1_250),
                4,
            ))
        })
        .collect();
    let mut models = Vec::new();
    for process in processes {
        let worked = tokio::time::timeout(Duration::from_secs(90), process)
            .await
            .expect("the agent process finished")
            .expect("it did not panic");
        assert_eq!(worked.tasks.len(), 1, "{:?}", worked.tasks);
        models.push(worked.tasks[0]["model"].as_str().expect("model").to_owned());
    }
    // The first stage fits two tasks on the cheapest paid model; what is
    // left after them (1.5 cents) fits none, so the later ones run locally.
    assert_eq!(models, ["gemini-pro", "gemini-pro", "llama3.1:8b", "llama3.1:8b"]);
    let done = until_status(&app, &owner, &project, "completed").await;
    assert_eq!(done["tasks"]["done"], 4);
    let shown = app
        .request(
            "GET",
            &format!("/api/v1/projects/{project}"),
            Some(&owner.token),
            None,
        )
        .await
        .json();
    let spent = Decimal::from_str(shown["spent_usd"].as_str().expect("spent")).expect("decimal");
    assert!(spent <= Decimal::new(5, 2), "spent {spent} of a 0.05 budget");
    assert!(spent > Decimal::ZERO, "{shown}");

    // Each switch is in the agent's activity.
    let activity = app
        .request(
            "GET",
            &format!("/api/v1/agents/{third}/activity"),
            Some(&owner.token),
            None,
        )
        .await
        .json();
    let switch = activity["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["event_type"] == "ModelSwitched")
        .cloned()
        .expect("a ModelSwitched in the activity");
    assert_eq!(switch["data"]["from"], "gpt-4");
    assert_eq!(switch["data"]["to"], "llama3.1:8b");
    let remaining = switch["data"]["budget_remaining_usd"]
        .as_str()
        .expect("remaining");
    assert_eq!(
        Decimal::from_str(remaining).expect("decimal"),
        Decimal::new(15, 3)
    );
}

/// Claims, spends and finishes one task of `agent` (waiting up to 30 s).
async fn work_one(client: Client, owner: &User, agent: &str) -> String {
    let work = client
        .request(
            "GET",
            &format!("/api/v1/agents/{agent}/work?wait_seconds=25"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(work.status, 200, "{}", work.text());
    let task = work.json();
    let task_id = task["task_id"].as_str().expect("task").to_owned();
    spend(
        client,
        &owner.token,
        agent,
        &task_id,
        task["model"].as_str().expect("model"),
        (1_000, 100),
    )
    .await;
    let done = client
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/tasks/{task_id}/complete"),
            Some(&owner.token),
            Some(&json!({"outcome": "succeeded"})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text());
    task_id
}

/// Events of one kind in the store, by aggregate: (aggregate id, count).
async fn counted(
    db: &crate::support::TestDatabase,
    aggregate_type: &str,
    event_type: &str,
) -> Vec<(String, i64)> {
    db.connect()
        .await
        .query(
            "SELECT aggregate_id, count(*) FROM events WHERE aggregate_type = $1 AND event_type = $2
              GROUP BY aggregate_id ORDER BY aggregate_id",
            &[&aggregate_type, &event_type],
        )
        .await
        .expect("count events")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test]
async fn sigkill_mid_stage_then_restart_creates_nothing_twice_loses_nothing_and_completes() {
    let db = crate::support::TestDatabase::migrated().await;
    let (mut first, addr) = crate::binary::zekka_up(&db).await;
    let client = Client { addr };
    let owner = client.user("owner").await;
    // A budget small enough for model switches, which a replay must not repeat.
    let project = project_with_budget(&client, &owner, Some("0.05")).await;
    let analyst = agent_on(&client, &owner, &project, "Analyst", "requirements", "gpt-4").await;
    let writer = agent_on(&client, &owner, &project, "Writer", "requirements", "gpt-4").await;
    let architect = agent_on(&client, &owner, &project, "Architect", "architecture", "gpt-4").await;
    let builder = agent_on(&client, &owner, &project, "Builder", "api", "gpt-4").await;
    start(&client, &owner, &project).await;

    // Mid-stage: one of the first stage's two tasks is done, and the
    // orchestrator is reacting to it when the process is killed.
    work_one(client, &owner, &analyst).await;
    first.kill().await.expect("SIGKILL");

    let (_second, addr) = crate::binary::zekka_up(&db).await;
    let client = Client { addr };
    // An escalated conflict pauses the run until it is resolved; a replay
    // must not pause it again.
    let reported = client
        .request(
            "POST",
            "/api/v1/conflicts",
            Some(&owner.token),
            Some(
                &json!({"project_id": project, "kind": "design", "description": "REST or RPC",
                         "agent_ids": [writer]}),
            ),
        )
        .await;
    assert_eq!(reported.status, 201, "{}", reported.text());
    let conflict = reported.json()["id"].as_str().expect("id").to_owned();
    for (action, body) in [
        ("escalate", json!({"reason": "a person decides"})),
        ("resolve", json!({"strategy": "manual", "resolution": "REST"})),
    ] {
        let answer = client
            .request(
                "POST",
                &format!("/api/v1/conflicts/{conflict}/{action}"),
                Some(&owner.token),
                Some(&body),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        if action == "escalate" {
            until_status(&client, &owner, &project, "paused").await;
        }
    }
    until_status(&client, &owner, &project, "running").await;
    work_one(client, &owner, &writer).await;
    work_one(client, &owner, &architect).await;
    work_one(client, &owner, &builder).await;
    let done = until_status(&client, &owner, &project, "completed").await;
    assert_eq!(
        done["tasks"],
        json!({"open": 0, "claimed": 0, "done": 4, "failed": 0})
    );

    let once = |counts: &[(String, i64)]| counts.iter().all(|(_, n)| *n == 1);
    let opened = counted(&db, "Task", "TaskOpened").await;
    assert_eq!(opened.len(), 4, "{opened:?}");
    assert!(once(&opened), "a task was created twice: {opened:?}");
    let finished = counted(&db, "Task", "TaskFinished").await;
    assert!(finished.len() == 4 && once(&finished), "{finished:?}");
    assert_eq!(counted(&db, "Execution", "StageOpened").await[0].1, 10);
    assert_eq!(counted(&db, "Project", "ProjectStageAdvanced").await[0].1, 9);
    assert_eq!(counted(&db, "Execution", "ExecutionCompleted").await[0].1, 1);
    let switches = counted(&db, "Agent", "ModelSwitched").await;
    assert_eq!(
        switches.len(),
        4,
        "every agent was switched off gpt-4 once: {switches:?}"
    );
    assert!(once(&switches), "{switches:?}");

    // Replaying the orchestrator's whole input again issues nothing new.
    let checkpoints = db.connect().await;
    let events = async || {
        checkpoints
            .query_one("SELECT count(*), max(global_position) FROM events", &[])
            .await
            .map(|row| (row.get::<_, i64>(0), row.get::<_, i64>(1)))
            .expect("count")
    };
    // The run's last reaction (the project told it ended) comes just after
    // the read model shows it completed: wait for it before counting.
    let settle_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while counted(&db, "Project", "ProjectExecutionEnded").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < settle_deadline,
            "the run never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (before, head) = events().await;
    checkpoints
        .execute(
            "UPDATE process_checkpoints SET transaction_id = '0', global_position = 0 WHERE name = 'orchestrator'",
            &[],
        )
        .await
        .expect("rewind the orchestrator");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reached: i64 = checkpoints
            .query_one(
                "SELECT global_position FROM process_checkpoints WHERE name = 'orchestrator'",
                &[],
            )
            .await
            .expect("checkpoint")
            .get(0);
        if reached >= head {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replay never reached {head}: at {reached}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events().await.0, before, "the replay issued commands");
}

#[tokio::test]
async fn a_run_is_pushed_to_the_project_subscription_as_it_goes() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let project = project_with_budget(&app, &owner, Some("0.01")).await;
    let agent = agent_on(&app, &owner, &project, "Analyst", "requirements", "gpt-4").await;
    // The socket accepts the subscription once the read model shows the project.
    while app
        .request(
            "GET",
            &format!("/api/v1/projects/{project}"),
            Some(&owner.token),
            None,
        )
        .await
        .status
        != 200
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut socket = crate::realtime::connect(app.addr, &owner, None).await;
    crate::realtime::subscribe(&mut socket, json!({"type": "subscribe", "project_id": project})).await;
    // Let the subscription land before the run starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let execution_id = start(&app, &owner, &project).await;

    let started = crate::realtime::next_of(&mut socket, "execution:updated").await;
    assert_eq!(started["data"]["execution_id"], execution_id.as_str());
    assert_eq!(started["data"]["event"], "ExecutionStarted");
    let switched = crate::realtime::next_of(&mut socket, "model:switched").await;
    assert_eq!(switched["data"]["agent_id"], agent.as_str());
    assert_eq!(switched["data"]["to"], "llama3.1:8b");
    let created = crate::realtime::next_of(&mut socket, "task:created").await;
    assert_eq!(created["data"]["agent_id"], agent.as_str());
    assert_eq!(created["data"]["stage"], "requirements");
    let task_id = work_one(*app, &owner, &agent).await;
    assert_eq!(created["data"]["task_id"], task_id.as_str());
    let completed = crate::realtime::next_of(&mut socket, "task:completed").await;
    assert_eq!(completed["data"]["task_id"], task_id.as_str());
    assert_eq!(completed["data"]["outcome"], "succeeded");
    let settled = loop {
        let update = crate::realtime::next_of(&mut socket, "execution:updated").await;
        if update["data"]["event"] == "TaskSettled" {
            break update;
        }
    };
    assert_eq!(settled["data"]["stage"], "requirements");
    assert_eq!(settled["data"]["settled"], 1);
    assert_eq!(settled["data"]["total"], 1);
    assert!(settled["data"]["run_cost_usd"].is_string(), "{settled}");
}

#[tokio::test]
async fn a_task_that_fails_pauses_the_run_and_a_resume_hands_it_out_again() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let project = project_with_budget(&app, &owner, None).await;
    let agent = agent_on(&app, &owner, &project, "Analyst", "requirements", "claude-sonnet").await;
    // A task assigned by hand holds no lease: its heartbeat is a conflict.
    let assigned = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/tasks"),
            Some(&owner.token),
            Some(&json!({"title": "By hand"})),
        )
        .await;
    assert_eq!(assigned.status, 201, "{}", assigned.text());
    let by_hand = assigned.json()["task_id"].as_str().expect("task").to_owned();
    app.request(
        "POST",
        &format!("/api/v1/agents/{agent}/tasks/{by_hand}/heartbeat"),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(409);

    start(&app, &owner, &project).await;
    let work = format!("/api/v1/agents/{agent}/work?wait_seconds=10");
    let claimed = app.request("GET", &work, Some(&owner.token), None).await;
    assert_eq!(claimed.status, 200, "{}", claimed.text());
    let task = claimed.json()["task_id"].as_str().expect("task").to_owned();
    let complete = format!("/api/v1/agents/{agent}/tasks/{task}/complete");
    let failed = app
        .request(
            "POST",
            &complete,
            Some(&owner.token),
            Some(&json!({"outcome": "failed", "detail": "no"})),
        )
        .await;
    assert_eq!(failed.status, 200, "{}", failed.text());
    let again = app
        .request(
            "POST",
            &complete,
            Some(&owner.token),
            Some(&json!({"outcome": "succeeded"})),
        )
        .await;
    again.assert_problem(409);
    let paused = until_status(&app, &owner, &project, "paused").await;
    assert_eq!(paused["pause_reasons"][0]["kind"], "task_failed", "{paused}");
    assert_eq!(paused["pause_reasons"][0]["task_id"], task.as_str());
    assert_eq!(paused["tasks"]["failed"], 1, "{paused}");

    let resumed = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/execution/resume"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text());
    let retried = app.request("GET", &work, Some(&owner.token), None).await;
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!(retried.json()["task_id"], task.as_str());
    let done = app
        .request(
            "POST",
            &complete,
            Some(&owner.token),
            Some(&json!({"outcome": "succeeded"})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text());
    let completed = until_status(&app, &owner, &project, "completed").await;
    assert_eq!(completed["tasks"]["done"], 1, "{completed}");
}
