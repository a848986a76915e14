//! Agents and their tasks, end to end.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn an_agent_reports_status_takes_a_task_and_finishes_it() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Agents").await;
    let registered = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&owner.token),
            Some(&json!({"project_id": project, "name": "Ada", "kind": "developer", "stage": "api", "model": "claude-sonnet"})),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let agent = registered.json()["id"].as_str().expect("id").to_owned();
    let base = format!("/api/v1/agents/{agent}");

    let status = app
        .request(
            "POST",
            &format!("{base}/status"),
            Some(&owner.token),
            Some(&json!({"status": "working", "detail": "warming up"})),
        )
        .await;
    assert_eq!(status.status, 200, "{}", status.text());
    let task = app
        .request(
            "POST",
            &format!("{base}/tasks"),
            Some(&owner.token),
            Some(&json!({"title": "Design the API", "stage": "api"})),
        )
        .await;
    assert_eq!(task.status, 201, "{}", task.text());
    let task_body = task.json();
    let task_id = task_body["task_id"].as_str().expect("task id").to_owned();
    let token = task_body["consistency_token"].as_str().expect("token").to_owned();
    let shown = app
        .get_consistent(&format!("{base}/status"), &owner.token, &token)
        .await
        .json();
    assert_eq!(shown["status"], "working");
    assert_eq!(shown["detail"], "warming up");
    assert_eq!(shown["current_task_id"], task_id.as_str());

    let done = app
        .request(
            "POST",
            &format!("{base}/tasks/{task_id}/complete"),
            Some(&owner.token),
            Some(&json!({"outcome": "succeeded"})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text());
    let token = done.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.request(
        "POST",
        &format!("{base}/tasks/{task_id}/complete"),
        Some(&owner.token),
        Some(&json!({"outcome": "failed"})),
    )
    .await
    .assert_problem(404);

    let agent_view = app.get_consistent(&base, &owner.token, &token).await.json();
    assert_eq!(agent_view["tasks_done"], 1);
    assert_eq!(agent_view["current_task_id"], serde_json::Value::Null);
    assert_eq!(agent_view["model"], "claude-sonnet");
    let listed = app
        .get_consistent(
            &format!("/api/v1/agents?project_id={project}"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(listed["items"][0]["id"], agent.as_str());
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &token)
        .await
        .json();
    assert_eq!(stats["agents"], 1);
    assert_eq!(stats["tasks_done"], 1);
    assert_eq!(stats["tasks_open"], 0);

    let activity = app
        .get_consistent(&format!("{base}/activity"), &owner.token, &token)
        .await
        .json();
    let kinds: Vec<&str> = activity["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds,
        [
            "TaskCompleted",
            "TaskAssigned",
            "AgentStatusChanged",
            "AgentRegistered"
        ]
    );
    assert_eq!(activity["items"][3]["actor"], owner.id.as_str());
}

#[tokio::test]
async fn viewers_cannot_direct_agents_and_strangers_cannot_see_them() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let viewer = app.user("viewer").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Guarded").await;
    app.request(
        "POST",
        &format!("/api/v1/projects/{project}/members"),
        Some(&owner.token),
        Some(&json!({"user_id": viewer.id, "role": "viewer"})),
    )
    .await;
    let body = json!({"project_id": project, "name": "Bot", "kind": "reviewer", "model": "gpt-4"});
    app.request("POST", "/api/v1/agents", Some(&viewer.token), Some(&body))
        .await
        .assert_problem(403);
    app.request("POST", "/api/v1/agents", Some(&stranger.token), Some(&body))
        .await
        .assert_problem(404);
    let registered = app
        .request("POST", "/api/v1/agents", Some(&owner.token), Some(&body))
        .await;
    let token = registered.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let agent = registered.json()["id"].as_str().expect("id").to_owned();
    let base = format!("/api/v1/agents/{agent}");
    for path in [base.clone(), format!("{base}/status"), format!("{base}/activity")] {
        app.get_consistent(&path, &stranger.token, &token)
            .await
            .assert_problem(404);
        assert_eq!(app.get_consistent(&path, &viewer.token, &token).await.status, 200);
    }
    app.request(
        "POST",
        &format!("{base}/status"),
        Some(&viewer.token),
        Some(&json!({"status": "idle"})),
    )
    .await
    .assert_problem(403);
    app.request(
        "POST",
        &format!("{base}/status"),
        Some(&stranger.token),
        Some(&json!({"status": "idle"})),
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn bad_agent_input_is_a_4xx_problem_and_appends_nothing() {
    let app = spawn_app().await;
    let owner = app.user("strict").await;
    let (project, _) = app.project(&owner, "Strict").await;
    let registered = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&owner.token),
            Some(
                &json!({"project_id": project, "name": "Ada", "kind": "developer", "model": "claude-sonnet"}),
            ),
        )
        .await;
    let agent = registered.json()["id"].as_str().expect("id").to_owned();
    let base = format!("/api/v1/agents/{agent}");
    let missing = uuid::Uuid::now_v7();
    let before = app.event_count().await;
    let cases = [
        (
            "/api/v1/agents".to_owned(),
            json!({"project_id": project, "name": " ", "kind": "x", "model": "m"}),
            422,
        ),
        (
            "/api/v1/agents".to_owned(),
            json!({"project_id": project, "name": "A", "kind": "x", "model": "bad model"}),
            422,
        ),
        (
            "/api/v1/agents".to_owned(),
            json!({"project_id": project, "name": "A", "kind": "x", "model": "m", "stage": "moon"}),
            422,
        ),
        (
            "/api/v1/agents".to_owned(),
            json!({"project_id": project, "name": "A"}),
            400,
        ),
        (
            "/api/v1/agents".to_owned(),
            json!({"project_id": missing, "name": "A", "kind": "x", "model": "m"}),
            404,
        ),
        (format!("{base}/status"), json!({"status": "sleeping"}), 422),
        (format!("{base}/tasks"), json!({"title": ""}), 422),
        (
            format!("{base}/tasks/{missing}/complete"),
            json!({"outcome": "succeeded"}),
            404,
        ),
        (
            format!("{base}/tasks/{missing}/complete"),
            json!({"outcome": "maybe"}),
            422,
        ),
        (
            format!("/api/v1/agents/{missing}/status"),
            json!({"status": "idle"}),
            404,
        ),
        (
            "/api/v1/agents/nope/status".to_owned(),
            json!({"status": "idle"}),
            400,
        ),
    ];
    for (path, body, status) in cases {
        let response = app.request("POST", &path, Some(&owner.token), Some(&body)).await;
        assert_eq!(response.status, status, "{path} {body}: {}", response.text());
        response.assert_problem(status);
    }
    assert_eq!(app.event_count().await, before);
}
