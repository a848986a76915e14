//! The project routes, end to end.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_created_project_is_readable_at_once_with_its_consistency_token() {
    let app = spawn_app().await;
    let user = app.user("ada").await;
    let created = app
        .request(
            "POST",
            "/api/v1/projects",
            Some(&user.token),
            Some(&json!({"name": "Apollo", "description": "To the moon", "budget_usd": "250.5"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let body = created.json();
    let id = body["id"].as_str().expect("id");
    let consistency = body["consistency_token"].as_str().expect("consistency token");
    assert_eq!(created.header("x-consistency-token"), Some(consistency));

    let read = app
        .get_consistent(&format!("/api/v1/projects/{id}"), &user.token, consistency)
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    let project = read.json();
    assert_eq!(project["id"], id);
    assert_eq!(project["name"], "Apollo");
    assert_eq!(project["description"], "To the moon");
    assert_eq!(project["owner_id"], user.id.as_str());
    assert_eq!(project["budget_usd"], "250.500000");
    assert_eq!(project["spent_usd"], "0.000000");
    assert_eq!(project["stage"], "requirements");
    assert_eq!(project["status"], "active");
    assert!(project["created_at"].is_string() && project["updated_at"].is_string());
}

#[tokio::test]
async fn another_user_is_told_the_project_does_not_exist() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let stranger = app.user("stranger").await;
    let (project, consistency) = app.project(&owner, "Private").await;
    let path = format!("/api/v1/projects/{project}");

    app.get_consistent(&path, &stranger.token, &consistency)
        .await
        .assert_problem(404);
    let before = app.event_count().await;
    app.request(
        "PUT",
        &path,
        Some(&stranger.token),
        Some(&json!({"name": "Taken"})),
    )
    .await
    .assert_problem(404);
    app.request("DELETE", &path, Some(&stranger.token), None)
        .await
        .assert_problem(404);
    assert_eq!(app.event_count().await, before);
    let list = app
        .get_consistent("/api/v1/projects", &stranger.token, &consistency)
        .await
        .json();
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn updates_stages_members_and_archiving_show_in_the_read_model() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let (project, _) = app.project(&owner, "Gemini").await;
    let path = format!("/api/v1/projects/{project}");

    let updated = app
        .request(
            "PUT",
            &path,
            Some(&owner.token),
            Some(&json!({"name": "Gemini II", "budget_usd": "10"})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());

    let staged = app
        .request(
            "POST",
            &format!("{path}/stage"),
            Some(&owner.token),
            Some(&json!({"stage": "architecture"})),
        )
        .await;
    assert_eq!(staged.status, 200, "{}", staged.text());
    app.request(
        "POST",
        &format!("{path}/stage"),
        Some(&owner.token),
        Some(&json!({"stage": "testing"})),
    )
    .await
    .assert_problem(422);

    let added = app
        .request(
            "POST",
            &format!("{path}/members"),
            Some(&owner.token),
            Some(&json!({"user_id": member.id, "role": "viewer"})),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text());
    let token = added.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let seen = app.get_consistent(&path, &member.token, &token).await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    let seen = seen.json();
    assert_eq!(seen["name"], "Gemini II");
    assert_eq!(seen["budget_usd"], "10.000000");
    assert_eq!(seen["stage"], "architecture");
    assert_eq!(seen["my_role"], "viewer");

    app.request(
        "PUT",
        &path,
        Some(&member.token),
        Some(&json!({"name": "Mine now"})),
    )
    .await
    .assert_problem(403);
    app.request("DELETE", &path, Some(&member.token), None)
        .await
        .assert_problem(403);

    let archived = app.request("DELETE", &path, Some(&owner.token), None).await;
    assert_eq!(archived.status, 204, "{}", archived.text());
    let token = archived
        .header("x-consistency-token")
        .expect("token header")
        .to_owned();
    let after = app.get_consistent(&path, &owner.token, &token).await.json();
    assert_eq!(after["status"], "archived");
    app.request("PUT", &path, Some(&owner.token), Some(&json!({"name": "Zombie"})))
        .await
        .assert_problem(409);

    let listed = app
        .get_consistent("/api/v1/projects", &owner.token, &token)
        .await
        .json();
    assert_eq!(listed["items"], json!([]));
    let with_archived = app
        .get_consistent("/api/v1/projects?include_archived=true", &owner.token, &token)
        .await
        .json();
    assert_eq!(with_archived["items"][0]["id"], project.as_str());
}

#[tokio::test]
async fn my_projects_are_paged_without_repeats_or_gaps() {
    let app = spawn_app().await;
    let user = app.user("pager").await;
    let mut created = Vec::new();
    let mut consistency = String::new();
    for n in 0..7 {
        let (id, token) = app.project(&user, &format!("P{n}")).await;
        created.push(id);
        consistency = token;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/projects?limit=3".to_owned();
    loop {
        let page = app.get_consistent(&path, &user.token, &consistency).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/projects?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, created);
}

#[tokio::test]
async fn a_token_from_the_future_is_400_and_one_the_model_never_reaches_times_out_with_503() {
    let app = crate::support::spawn_app_with(&[("CONSISTENCY_WAIT_MS", "300")]).await;
    let user = app.user("waiter").await;
    // Beyond anything written (CONTRACT.md, "Hostile input"): refused at once.
    app.get_consistent("/api/v1/projects", &user.token, "v1.999999999999.999999999")
        .await
        .assert_problem(400);
    // Written, but the projects model is stuck before it: 503 after the wait.
    app.append_poison("Project").await;
    let (_, token) = app.project(&user, "Unreached").await;
    let response = app.get_consistent("/api/v1/projects", &user.token, &token).await;
    response.assert_problem(503);
    assert!(response.header("retry-after").is_some());
}

#[tokio::test]
async fn requests_commands_appends_and_projections_show_in_the_metrics() {
    let app = spawn_app().await;
    let user = app.user("metered").await;
    let (project, consistency) = app.project(&user, "Metered").await;
    let read = app
        .get_consistent(&format!("/api/v1/projects/{project}"), &user.token, &consistency)
        .await;
    assert_eq!(read.status, 200);
    app.request("GET", "/api/v1/projects/not-a-uuid", Some(&user.token), None)
        .await
        .assert_problem(400);
    let metrics = app.raw("GET", "/metrics", &[], None).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for expected in [
        r#"zekka_http_requests_total{method="POST",route="createProject",status="201"}"#,
        r#"zekka_http_request_duration_seconds_count{method="GET",route="getProject",status="200"}"#,
        r#"zekka_http_requests_total{method="GET",route="getProject",status="400"}"#,
        r#"zekka_commands_total{command="CreateProject",outcome="ok"}"#,
        r#"zekka_events_appended_total{aggregate_type="Project"}"#,
        r#"zekka_projection_position{projection="projects"}"#,
        r#"zekka_projection_events_applied_total{projection="projects"}"#,
        r#"zekka_projection_batch_duration_seconds_count{projection="projects"}"#,
        r#"zekka_command_wait_seconds_count{queue="group_commit_slot"}"#,
        r#"zekka_command_wait_seconds_count{queue="store_read_connection"}"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}
