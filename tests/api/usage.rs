//! Token usage: exact costs, budgets that never overspend, local models.

use serde_json::{Value, json};

use crate::support::app::{TestApp, User};
use crate::support::spawn_app_with;

async fn agent(app: &TestApp, owner: &User, project: &str) -> String {
    let registered = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&owner.token),
            Some(&json!({"project_id": project, "name": "Spender", "kind": "developer", "model": "claude-sonnet"})),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    registered.json()["id"].as_str().expect("id").to_owned()
}

async fn budgeted_project(app: &TestApp, owner: &User, budget: &str) -> String {
    let created = app
        .request(
            "POST",
            "/api/v1/projects",
            Some(&owner.token),
            Some(&json!({"name": "Budgeted", "budget_usd": budget})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_str().expect("id").to_owned()
}

fn usage(model: &str, input: i64, output: i64) -> Value {
    json!({"model": model, "input_tokens": input, "output_tokens": output})
}

#[tokio::test]
async fn a_million_tokens_each_way_on_claude_sonnet_cost_exactly_18_usd() {
    let app = spawn_app_with(&[]).await;
    let owner = app.user("owner").await;
    let project = budgeted_project(&app, &owner, "100").await;
    let agent = agent(&app, &owner, &project).await;
    let recorded = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/usage"),
            Some(&owner.token),
            Some(&usage("claude-sonnet", 1_000_000, 1_000_000)),
        )
        .await;
    assert_eq!(recorded.status, 201, "{}", recorded.text());
    let body = recorded.json();
    assert_eq!(body["cost_usd"], "18.000000");
    assert_eq!(body["project_spent_usd"], "18.000000");
    assert_eq!(body["budget_remaining_usd"], "82.000000");
    let token = body["consistency_token"].as_str().expect("token").to_owned();
    let project_view = app
        .get_consistent(&format!("/api/v1/projects/{project}"), &owner.token, &token)
        .await
        .json();
    assert_eq!(project_view["spent_usd"], "18.000000");
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &token)
        .await
        .json();
    assert_eq!(stats["tokens_input"], 1_000_000);
    assert_eq!(stats["tokens_output"], 1_000_000);
    assert_eq!(stats["cost_usd"], "18.000000");
}

#[tokio::test]
async fn twenty_concurrent_records_against_a_budget_for_ten_accept_exactly_ten() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60")]).await;
    let owner = app.user("owner").await;
    // gpt-4 at 30/60 USD per million: 100k input tokens cost exactly 3 USD.
    let project = budgeted_project(&app, &owner, "30").await;
    let agent = agent(&app, &owner, &project).await;
    let path = format!("/api/v1/agents/{agent}/usage");
    let body = usage("gpt-4", 100_000, 0);
    let attempts = (0..20).map(|_| app.request("POST", &path, Some(&owner.token), Some(&body)));
    let answers = futures_util::future::join_all(attempts).await;
    let accepted = answers.iter().filter(|a| a.status == 201).count();
    let refused: Vec<&crate::support::http::Response> = answers.iter().filter(|a| a.status == 402).collect();
    assert_eq!(
        (accepted, refused.len()),
        (10, 10),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let problem = refused[0].assert_problem(402);
    assert_eq!(problem["budget_remaining_usd"], "0.000000");
    assert_eq!(problem["cheapest_model"], "llama3.1:8b");

    // The local model is always allowed, even with the budget spent.
    let local = app
        .request(
            "POST",
            &path,
            Some(&owner.token),
            Some(&usage("llama3.1:8b", 5_000, 5_000)),
        )
        .await;
    assert_eq!(local.status, 201, "{}", local.text());
    assert_eq!(local.json()["cost_usd"], "0.000000");
    assert_eq!(
        local.json()["project_spent_usd"],
        "30.000000",
        "spent never exceeds the budget"
    );

    let charged: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'TokenUsageRecorded' AND aggregate_id = $1",
            &[&project],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(charged, 11);
}

#[tokio::test]
async fn bad_usage_is_a_4xx_problem_and_appends_nothing() {
    let app = spawn_app_with(&[]).await;
    let owner = app.user("owner").await;
    let viewer = app.user("viewer").await;
    let project = budgeted_project(&app, &owner, "10").await;
    app.request(
        "POST",
        &format!("/api/v1/projects/{project}/members"),
        Some(&owner.token),
        Some(&json!({"user_id": viewer.id, "role": "viewer"})),
    )
    .await;
    let agent = agent(&app, &owner, &project).await;
    let path = format!("/api/v1/agents/{agent}/usage");
    let before = app.event_count().await;
    let cases = [
        (usage("no-such-model", 1, 1), 422),
        (usage("bad model", 1, 1), 422),
        (usage("gpt-4", -1, 1), 422),
        (usage("gpt-4", 1, 10_000_000_000), 422),
        (
            json!({"model": "gpt-4", "input_tokens": "many", "output_tokens": 1}),
            400,
        ),
        (json!({"model": "gpt-4"}), 400),
    ];
    for (body, status) in cases {
        let response = app.request("POST", &path, Some(&owner.token), Some(&body)).await;
        assert_eq!(response.status, status, "{body}: {}", response.text());
        response.assert_problem(status);
    }
    app.request("POST", &path, Some(&viewer.token), Some(&usage("gpt-4", 1, 1)))
        .await
        .assert_problem(403);
    let missing = uuid::Uuid::now_v7();
    app.request(
        "POST",
        &format!("/api/v1/agents/{missing}/usage"),
        Some(&owner.token),
        Some(&usage("gpt-4", 1, 1)),
    )
    .await
    .assert_problem(404);
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn a_price_change_applies_only_to_usage_recorded_after_it() {
    let app = spawn_app_with(&[]).await;
    let admin = app.admin("admin").await;
    let project = budgeted_project(&app, &admin, "1000").await;
    let agent = agent(&app, &admin, &project).await;
    let path = format!("/api/v1/agents/{agent}/usage");
    let before = app
        .request(
            "POST",
            &path,
            Some(&admin.token),
            Some(&usage("gpt-4", 1_000_000, 0)),
        )
        .await;
    assert_eq!(before.json()["cost_usd"], "30.000000");

    let changed = app
        .request(
            "PUT",
            "/api/v1/pricing/models/gpt-4",
            Some(&admin.token),
            Some(&json!({"input_usd_per_million": "10", "output_usd_per_million": "20"})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let after = app
        .request(
            "POST",
            &path,
            Some(&admin.token),
            Some(&usage("gpt-4", 1_000_000, 0)),
        )
        .await;
    assert_eq!(after.json()["cost_usd"], "10.000000");
    assert_eq!(after.json()["project_spent_usd"], "40.000000");
    let token = after.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &admin.token, &token)
        .await
        .json();
    assert_eq!(stats["cost_usd"], "40.000000", "the earlier record kept its cost");
    let costs: Vec<String> = app
        .db
        .connect()
        .await
        .query("SELECT cost_usd::numeric(20, 6)::text FROM rm_usage WHERE project_id = $1::text::uuid ORDER BY recorded_at", &[&project])
        .await
        .expect("usage rows")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(costs, ["30.000000", "10.000000"]);
}
