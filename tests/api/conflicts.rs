//! Conflicts: the lifecycle in the queue and the project's statistics.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_conflict_is_reported_escalated_resolved_once_and_counted() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Contested").await;
    let agents = [
        app.agent(&owner, &project, "Parser").await,
        app.agent(&owner, &project, "Lexer").await,
    ];
    let reported = app
        .request(
            "POST",
            "/api/v1/conflicts",
            Some(&owner.token),
            Some(
                &json!({"project_id": project, "kind": "code", "description": "both changed the parser",
                         "agent_ids": agents, "file_path": "src/parser.rs"}),
            ),
        )
        .await;
    assert_eq!(reported.status, 201, "{}", reported.text());
    let conflict = reported.json()["id"].as_str().expect("id").to_owned();
    let token = reported.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let open = app
        .get_consistent(
            &format!("/api/v1/conflicts?project_id={project}&status=open"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(open["items"][0]["id"], conflict.as_str());
    assert_eq!(open["items"][0]["file_path"], "src/parser.rs");
    app.get_consistent(&format!("/api/v1/conflicts/{conflict}"), &stranger.token, &token)
        .await
        .assert_problem(404);
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &token)
        .await
        .json();
    assert_eq!(
        (
            stats["conflicts_open"].clone(),
            stats["conflicts_resolved"].clone()
        ),
        (json!(1), json!(0))
    );

    let escalated = app
        .request(
            "POST",
            &format!("/api/v1/conflicts/{conflict}/escalate"),
            Some(&owner.token),
            Some(&json!({"reason": "the models disagree"})),
        )
        .await;
    assert_eq!(escalated.status, 200, "{}", escalated.text());
    let resolve = json!({"strategy": "arbitrator", "resolution": "keep the newer parser", "resolved_by_model": "claude-sonnet"});
    let resolved = app
        .request(
            "POST",
            &format!("/api/v1/conflicts/{conflict}/resolve"),
            Some(&owner.token),
            Some(&resolve),
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text());
    let token = resolved.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.request(
        "POST",
        &format!("/api/v1/conflicts/{conflict}/resolve"),
        Some(&owner.token),
        Some(&resolve),
    )
    .await
    .assert_problem(409);

    let shown = app
        .get_consistent(&format!("/api/v1/conflicts/{conflict}"), &owner.token, &token)
        .await
        .json();
    assert_eq!(shown["status"], "resolved");
    assert_eq!(shown["strategy"], "arbitrator");
    assert_eq!(shown["resolved_by_model"], "claude-sonnet");
    assert_eq!(shown["escalation_reason"], "the models disagree");
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &token)
        .await
        .json();
    assert_eq!(
        (
            stats["conflicts_open"].clone(),
            stats["conflicts_resolved"].clone(),
            stats["conflict_auto_resolution_rate"].clone()
        ),
        (json!(0), json!(1), json!("1.000000"))
    );

    // A second conflict, escalated and then settled by a person, halves the
    // auto-resolution rate in the project stats and in the overall metrics.
    let second = app
        .request(
            "POST",
            "/api/v1/conflicts",
            Some(&owner.token),
            Some(
                &json!({"project_id": project, "kind": "design", "description": "two layouts",
                         "agent_ids": agents}),
            ),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let escalated = app
        .request(
            "POST",
            &format!("/api/v1/conflicts/{second}/escalate"),
            Some(&owner.token),
            Some(&json!({"reason": "needs a person"})),
        )
        .await;
    let token = escalated.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &token)
        .await
        .json();
    assert_eq!(
        (
            stats["conflicts_open"].clone(),
            stats["conflicts_escalated"].clone(),
            stats["conflict_auto_resolution_rate"].clone()
        ),
        (json!(1), json!(1), json!("1.000000"))
    );
    let escalated_queue = app
        .get_consistent(
            &format!("/api/v1/conflicts?project_id={project}&status=escalated"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(escalated_queue["items"][0]["id"], second.as_str());
    let manual = app
        .request(
            "POST",
            &format!("/api/v1/conflicts/{second}/resolve"),
            Some(&owner.token),
            Some(&json!({"strategy": "manual", "resolution": "the owner picked the first layout"})),
        )
        .await;
    assert_eq!(manual.status, 200, "{}", manual.text());
    let token = manual.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &token)
        .await
        .json();
    assert_eq!(
        (
            stats["conflicts_open"].clone(),
            stats["conflicts_resolved"].clone(),
            stats["conflicts_escalated"].clone(),
            stats["conflict_auto_resolution_rate"].clone()
        ),
        (json!(0), json!(2), json!(0), json!("0.500000"))
    );
    let metrics = app
        .get_consistent("/api/v1/analytics/metrics", &owner.token, &token)
        .await
        .json();
    assert_eq!(metrics["conflict_auto_resolution_rate"], "0.500000");
    assert_eq!(metrics["conflicts_resolved"], 2);
}

#[tokio::test]
async fn bad_conflict_input_is_a_4xx_problem_and_appends_nothing() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Strict").await;
    let agent = app.agent(&owner, &project, "Strict agent").await;
    let reported = app
        .request(
            "POST",
            "/api/v1/conflicts",
            Some(&owner.token),
            Some(&json!({"project_id": project, "kind": "design", "description": "x", "agent_ids": [agent]})),
        )
        .await;
    let conflict = reported.json()["id"].as_str().expect("id").to_owned();
    let before = app.event_count().await;
    let cases = [
        (
            "/api/v1/conflicts".to_owned(),
            json!({"project_id": project, "kind": "taste", "description": "x", "agent_ids": [agent]}),
            422,
        ),
        (
            "/api/v1/conflicts".to_owned(),
            json!({"project_id": project, "kind": "code", "description": "x", "agent_ids": []}),
            422,
        ),
        (
            "/api/v1/conflicts".to_owned(),
            json!({"project_id": project, "kind": "code", "description": " ", "agent_ids": [agent]}),
            422,
        ),
        (
            "/api/v1/conflicts".to_owned(),
            json!({"project_id": project, "kind": "code"}),
            400,
        ),
        (
            format!("/api/v1/conflicts/{conflict}/resolve"),
            json!({"strategy": "coin_flip", "resolution": "heads"}),
            422,
        ),
        (
            format!("/api/v1/conflicts/{conflict}/resolve"),
            json!({"strategy": "manual", "resolution": ""}),
            422,
        ),
        (
            format!("/api/v1/conflicts/{}/resolve", uuid::Uuid::now_v7()),
            json!({"strategy": "manual", "resolution": "x"}),
            404,
        ),
        (
            "/api/v1/conflicts/nope/escalate".to_owned(),
            json!({"reason": "x"}),
            400,
        ),
    ];
    for (path, body, status) in cases {
        let response = app.request("POST", &path, Some(&owner.token), Some(&body)).await;
        assert_eq!(response.status, status, "{path} {body}: {}", response.text());
        response.assert_problem(status);
    }
    app.request("GET", "/api/v1/conflicts?status=closed", Some(&owner.token), None)
        .await
        .assert_problem(422);
    assert_eq!(app.event_count().await, before);
}

/// An archived project is read-only for conflicts as for everything else:
/// no new conflict, none settled, no arbitration started.
#[tokio::test]
async fn an_archived_project_takes_no_conflict_and_settles_none() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Done").await;
    let agent = app.agent(&owner, &project, "Late").await;
    let report = json!({"project_id": project, "kind": "code", "description": "x", "agent_ids": [agent]});
    let reported = app
        .request("POST", "/api/v1/conflicts", Some(&owner.token), Some(&report))
        .await;
    assert_eq!(reported.status, 201, "{}", reported.text());
    let conflict = reported.json()["id"].as_str().expect("id").to_owned();
    let archived = app
        .request(
            "DELETE",
            &format!("/api/v1/projects/{project}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert!(archived.status < 300, "{}", archived.text());
    let before = app.event_count().await;
    app.request("POST", "/api/v1/conflicts", Some(&owner.token), Some(&report))
        .await
        .assert_problem(409);
    app.request(
        "POST",
        &format!("/api/v1/conflicts/{conflict}/resolve"),
        Some(&owner.token),
        Some(&json!({"strategy": "manual", "resolution": "too late"})),
    )
    .await
    .assert_problem(409);
    app.request(
        "POST",
        &format!("/api/v1/conflicts/{conflict}/arbitrate"),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(409);
    assert_eq!(app.event_count().await, before);
}
