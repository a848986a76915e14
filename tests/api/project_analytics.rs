//! A project's analytics in one call, `tokens` in the metrics, and CSV on
//! every analytics route (issue 24).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::app::{TestApp, User};
use crate::support::spawn_app;

/// Registers an agent on `model` in `project`; returns its id.
async fn agent(app: &TestApp, owner: &User, project: &str, name: &str, model: &str) -> String {
    let registered = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&owner.token),
            Some(&json!({"project_id": project, "name": name, "kind": "developer", "model": model})),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    registered.json()["id"].as_str().expect("id").to_owned()
}

/// Records usage; returns the consistency token.
async fn usage(app: &TestApp, owner: &User, agent: &str, model: &str, input: i64, output: i64) -> String {
    let recorded = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/usage"),
            Some(&owner.token),
            Some(&json!({"model": model, "input_tokens": input, "output_tokens": output})),
        )
        .await;
    assert_eq!(recorded.status, 201, "{}", recorded.text());
    recorded.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

fn money(v: &Value) -> Decimal {
    v.as_str().expect("money string").parse().expect("decimal")
}

#[tokio::test]
async fn a_project_page_gets_totals_by_model_agent_and_day_in_one_call() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Spend").await;
    let (other_project, _) = app.project(&owner, "Elsewhere").await;
    let writer = agent(&app, &owner, &project, "Writer", "gpt-4").await;
    let reader = agent(&app, &owner, &project, "Reader", "gemini-pro").await;
    let outsider = agent(&app, &owner, &other_project, "Outsider", "gpt-4").await;
    usage(&app, &owner, &writer, "gpt-4", 1000, 500).await;
    usage(&app, &owner, &writer, "gemini-pro", 2000, 0).await;
    usage(&app, &owner, &reader, "gemini-pro", 300, 700).await;
    let token = usage(&app, &owner, &outsider, "gpt-4", 99_999, 99_999).await;

    let answer = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/analytics"),
            &owner.token,
            &token,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["project_id"], project.as_str());
    assert_eq!(body["tokens_input"], 3300);
    assert_eq!(body["tokens_output"], 1200);
    assert_eq!(body["tokens"], 4500);
    // Default prices (USD per million): gpt-4 30 in / 60 out, gemini-pro
    // 0.5 / 1.5: 0.03 + 0.03 (Writer on gpt-4) + 0.001 (Writer on
    // gemini-pro) + 0.00015 + 0.00105 (Reader).
    let expected: Decimal = "0.0622".parse().expect("decimal");
    assert_eq!(money(&body["cost_usd"]), expected, "{body}");
    let models: BTreeMap<&str, (i64, i64)> = body["by_model"]
        .as_array()
        .expect("by_model")
        .iter()
        .map(|m| {
            (
                m["model"].as_str().expect("model"),
                (
                    m["tokens_input"].as_i64().expect("in"),
                    m["tokens_output"].as_i64().expect("out"),
                ),
            )
        })
        .collect();
    assert_eq!(
        models,
        BTreeMap::from([("gemini-pro", (2300, 700)), ("gpt-4", (1000, 500))])
    );
    let agents: BTreeMap<&str, &str> = body["by_agent"]
        .as_array()
        .expect("by_agent")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().expect("name"),
                a["agent_id"].as_str().expect("id"),
            )
        })
        .collect();
    assert_eq!(
        agents,
        BTreeMap::from([("Reader", reader.as_str()), ("Writer", writer.as_str())])
    );
    let days = body["by_day"].as_array().expect("by_day");
    assert_eq!(days.len(), 1);
    assert_eq!(money(&days[0]["cost_usd"]), money(&body["cost_usd"]));
    let parts: Decimal = body["by_agent"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| money(&a["cost_usd"]))
        .sum();
    assert_eq!(parts, money(&body["cost_usd"]));

    // A range before any usage: zeros and empty lists.
    let empty = app
        .request(
            "GET",
            &format!("/api/v1/projects/{project}/analytics?from=2020-01-01&to=2020-01-02"),
            Some(&owner.token),
            None,
        )
        .await
        .json();
    assert_eq!(empty["tokens"], 0);
    assert_eq!(empty["by_day"], json!([]));

    app.request(
        "GET",
        &format!("/api/v1/projects/{project}/analytics"),
        Some(&stranger.token),
        None,
    )
    .await
    .assert_problem(404);
    app.request(
        "GET",
        &format!("/api/v1/projects/{project}/analytics?from=yesterday"),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(422);

    let metrics = app
        .get_consistent("/api/v1/analytics/metrics", &owner.token, &token)
        .await
        .json();
    assert_eq!(
        metrics["tokens"].as_i64(),
        Some(metrics["tokens_input"].as_i64().expect("in") + metrics["tokens_output"].as_i64().expect("out"))
    );
    assert_eq!(metrics["tokens"], 4500 + 2 * 99_999);
}

#[tokio::test]
async fn every_analytics_route_answers_csv_when_asked() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Spreadsheets").await;
    let writer = agent(&app, &owner, &project, "=cmd|' /C calc'!A0", "gpt-4").await;
    let assigned = app
        .request(
            "POST",
            &format!("/api/v1/agents/{writer}/tasks"),
            Some(&owner.token),
            Some(&json!({"title": "Count"})),
        )
        .await;
    assert_eq!(assigned.status, 201, "{}", assigned.text());
    let token = usage(&app, &owner, &writer, "gpt-4", 1000, 500).await;
    let bearer = format!("Bearer {}", owner.token);
    for path in [
        "/api/v1/analytics/metrics".to_owned(),
        "/api/v1/analytics/costs".to_owned(),
        "/api/v1/analytics/costs/breakdown".to_owned(),
        "/api/v1/analytics/tokens".to_owned(),
        "/api/v1/analytics/agents".to_owned(),
        "/api/v1/analytics/tasks".to_owned(),
        "/api/v1/analytics/costs/repriced".to_owned(),
        format!("/api/v1/projects/{project}/analytics"),
    ] {
        let json = app.get_consistent(&path, &owner.token, &token).await;
        assert_eq!(json.status, 200, "{path}: {}", json.text());
        assert!(
            json.header("content-type")
                .is_some_and(|t| t.starts_with("application/json"))
        );
        let csv = app
            .raw(
                "GET",
                &path,
                &[("Authorization", &bearer), ("Accept", "text/csv")],
                None,
            )
            .await;
        assert_eq!(csv.status, 200, "{path}: {}", csv.text());
        assert_eq!(
            csv.header("content-type"),
            Some("text/csv; charset=utf-8"),
            "{path}"
        );
        let text = csv.text();
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(lines.len() >= 2, "{path}: a header and at least one row: {text}");
        let header: Vec<&str> = lines[0].split(',').collect();
        // The header names the JSON answer's fields.
        let body = json.json();
        let sample = body["items"]
            .get(0)
            .or_else(|| body["by_model"].get(0))
            .unwrap_or(&body);
        let field = sample
            .as_object()
            .and_then(|o| o.iter().find(|(_, v)| !v.is_array() && !v.is_object()))
            .map(|(k, _)| k.as_str())
            .expect("a plain field");
        assert!(header.contains(&field), "{path}: {field} not in {header:?}");
        if path.ends_with("/agents") {
            assert!(
                text.contains("\"'=cmd|' /C calc'!A0\"") || text.contains("'=cmd|' /C calc'!A0"),
                "{text}"
            );
        }
    }
    // The OpenAPI document offers both forms.
    let spec = app.request("GET", "/openapi.json", None, None).await.json();
    let content = &spec["paths"]["/api/v1/analytics/costs"]["get"]["responses"]["200"]["content"];
    assert!(content.get("text/csv; charset=utf-8").is_some(), "{content}");
}
