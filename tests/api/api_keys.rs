//! Project API keys (issue 12): a key acts only in its project, within its
//! scopes and for its agent; revocation is refused by every process from
//! the next request; bad input is a 4xx that changes nothing.

use serde_json::{Value, json};
use zekka::Services;

use crate::support::app::{Client, TestApp, User, spawn_on, start_service, test_config};
use crate::support::database::TestDatabase;
use crate::support::spawn_app;

/// Issues a key on `project`; returns the answer's body.
async fn issue(app: &TestApp, owner: &User, project: &str, body: Value) -> Value {
    let created = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/api-keys"),
            Some(&owner.token),
            Some(&body),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()
}

fn usage() -> Value {
    json!({"model": "claude-sonnet", "input_tokens": 1000, "output_tokens": 100})
}

#[tokio::test]
async fn a_key_acts_only_in_its_project_within_its_scopes_and_for_its_agent() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Keyed").await;
    let (other_project, _) = app.project(&owner, "Other").await;
    let builder = app.agent(&owner, &project, "builder").await;
    let reviewer = app.agent(&owner, &project, "reviewer").await;
    let outsider = app.agent(&owner, &other_project, "outsider").await;

    let issued = issue(
        &app,
        &owner,
        &project,
        json!({"name": "ci runner", "scopes": ["usage:write"]}),
    )
    .await;
    let key = issued["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("zk_"), "{key}");
    assert_eq!(issued["scopes"], json!(["usage:write"]));

    // Usage for its project: recorded, and the audit trail names the key.
    let recorded = app
        .request(
            "POST",
            &format!("/api/v1/agents/{builder}/usage"),
            Some(&key),
            Some(&usage()),
        )
        .await;
    assert_eq!(recorded.status, 201, "{}", recorded.text());
    let client = app.db.connect().await;
    let named: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'TokenUsageRecorded' AND metadata ->> 'api_key_id' = $1",
            &[&issued["id"].as_str().expect("id")],
        )
        .await
        .expect("metadata")
        .get(0);
    assert_eq!(named, 1);

    // Another project, another scope, a route for people: 403, nothing appended.
    let before = app.event_count().await;
    app.request(
        "POST",
        &format!("/api/v1/agents/{outsider}/usage"),
        Some(&key),
        Some(&usage()),
    )
    .await
    .assert_problem(403);
    app.request(
        "POST",
        &format!("/api/v1/agents/{builder}/status"),
        Some(&key),
        Some(&json!({"status": "working"})),
    )
    .await
    .assert_problem(403);
    app.request("GET", "/api/v1/users/me", Some(&key), None)
        .await
        .assert_problem(403);
    app.request(
        "POST",
        "/api/v1/projects",
        Some(&key),
        Some(&json!({"name": "by a key"})),
    )
    .await
    .assert_problem(403);
    assert_eq!(app.event_count().await, before);

    // A key bound to one agent acts for that one only.
    let bound = issue(
        &app,
        &owner,
        &project,
        json!({"name": "builder only", "scopes": ["usage:write", "status:write"], "agent_id": builder}),
    )
    .await;
    let bound_key = bound["key"].as_str().expect("key");
    app.request(
        "POST",
        &format!("/api/v1/agents/{reviewer}/usage"),
        Some(bound_key),
        Some(&usage()),
    )
    .await
    .assert_problem(403);
    let status = app
        .request(
            "POST",
            &format!("/api/v1/agents/{builder}/status"),
            Some(bound_key),
            Some(&json!({"status": "working"})),
        )
        .await;
    assert_eq!(status.status, 200, "{}", status.text());

    // A key with another secret, or no key at all: 401.
    let forged = format!(
        "{}{}",
        &key[..key.len() - 1],
        if key.ends_with('0') { '1' } else { '0' }
    );
    app.request(
        "POST",
        &format!("/api/v1/agents/{builder}/usage"),
        Some(&forged),
        Some(&usage()),
    )
    .await
    .assert_problem(401);
    app.request(
        "POST",
        &format!("/api/v1/agents/{builder}/usage"),
        Some("zk_nonsense"),
        Some(&usage()),
    )
    .await
    .assert_problem(401);

    // The managers' list shows both keys, never a secret, and when each was
    // last used (written every few seconds, so it is waited for).
    let list = format!("/api/v1/projects/{project}/api-keys");
    let mut page = app.request("GET", &list, Some(&owner.token), None).await;
    for _ in 0..40 {
        let items = page.json()["items"].as_array().cloned().unwrap_or_default();
        if items.len() == 2 && items.iter().all(|k| k["last_used_at"].is_string()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        page = app.request("GET", &list, Some(&owner.token), None).await;
    }
    assert_eq!(page.status, 200, "{}", page.text());
    let text = page.text();
    assert!(!text.contains(&key) && !text.contains(bound_key), "{text}");
    let items = page.json()["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{text}");
    assert!(items.iter().all(|k| k["last_used_at"].is_string()), "{text}");

    // A key used once is verified from memory: with its record gone from
    // the database, it still works in this process.
    client
        .execute("DELETE FROM rm_api_keys", &[])
        .await
        .expect("delete the records");
    let from_memory = app
        .request(
            "POST",
            &format!("/api/v1/agents/{builder}/usage"),
            Some(&key),
            Some(&usage()),
        )
        .await;
    assert_eq!(from_memory.status, 201, "{}", from_memory.text());
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_every_process_from_the_next_request() {
    let db = TestDatabase::migrated().await;
    let config = test_config(&db.url);
    let app = spawn_on(db, config.clone()).await;
    let (other_addr, _other) = start_service(config, Services::CommandApi).await;
    let other = Client { addr: other_addr };
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Revoked").await;
    let builder = app.agent(&owner, &project, "builder").await;
    let issued = issue(
        &app,
        &owner,
        &project,
        json!({"name": "agent", "scopes": ["usage:write"]}),
    )
    .await;
    let key = issued["key"].as_str().expect("key");
    let path = format!("/api/v1/agents/{builder}/usage");

    // Both processes have verified (and cached) the key.
    for client in [&*app, &other] {
        let recorded = client.request("POST", &path, Some(key), Some(&usage())).await;
        assert_eq!(recorded.status, 201, "{}", recorded.text());
    }

    let key_path = format!(
        "/api/v1/projects/{project}/api-keys/{}",
        issued["id"].as_str().expect("id")
    );
    let revoked = app.request("DELETE", &key_path, Some(&owner.token), None).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text());
    let before = app.event_count().await;
    for client in [&other, &*app] {
        client
            .request("POST", &path, Some(key), Some(&usage()))
            .await
            .assert_problem(401);
    }
    assert_eq!(app.event_count().await, before);

    // Revoking again changes nothing; the list no longer shows it.
    let again = app.request("DELETE", &key_path, Some(&owner.token), None).await;
    assert_eq!(again.status, 204, "{}", again.text());
    assert_eq!(app.event_count().await, before);
    let token = again.header("x-consistency-token").unwrap_or_default().to_owned();
    let listed = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/api-keys"),
            &owner.token,
            &token,
        )
        .await;
    assert_eq!(listed.json()["items"], json!([]), "{}", listed.text());
}

#[tokio::test]
async fn bad_key_requests_are_4xx_problems_and_change_nothing() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Guarded").await;
    let (other_project, _) = app.project(&owner, "Elsewhere").await;
    let elsewhere = app.agent(&owner, &other_project, "elsewhere").await;
    let joined = app.add_member(&owner, &project, &member, "member").await;
    let path = format!("/api/v1/projects/{project}/api-keys");
    let before = app.event_count().await;

    let cases = [
        (&owner, json!({"name": "x", "scopes": ["root"]}), 422),
        (&owner, json!({"name": "x", "scopes": []}), 422),
        (&owner, json!({"name": "  ", "scopes": ["read"]}), 422),
        (
            &owner,
            json!({"name": "x", "scopes": ["read"], "agent_id": elsewhere}),
            422,
        ),
        (&owner, json!({"name": "x", "scopes": "read"}), 400),
        (&member, json!({"name": "x", "scopes": ["read"]}), 403),
        (&stranger, json!({"name": "x", "scopes": ["read"]}), 404),
    ];
    for (who, body, status) in cases {
        app.request("POST", &path, Some(&who.token), Some(&body))
            .await
            .assert_problem(status);
    }
    app.request(
        "DELETE",
        &format!("{path}/0190b5b4-0000-7000-8000-000000000000"),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(404);
    // Read once the membership is projected.
    app.get_consistent(&path, &member.token, &joined)
        .await
        .assert_problem(403);
    app.request("GET", &path, Some(&stranger.token), None)
        .await
        .assert_problem(404);
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn a_read_key_reads_its_project_only() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Readable").await;
    let (other, _) = app.project(&owner, "Not for the key").await;
    let builder = app.agent(&owner, &project, "builder").await;
    let outsider = app.agent(&owner, &other, "outsider").await;
    let (conversation, _) = app.conversation(&owner, &project, "Talk").await;
    let reader = issue(
        &app,
        &owner,
        &project,
        json!({"name": "dashboard", "scopes": ["read"]}),
    )
    .await;
    let reader = reader["key"].as_str().expect("key");
    let writer = issue(
        &app,
        &owner,
        &project,
        json!({"name": "writer", "scopes": ["usage:write"]}),
    )
    .await;
    // The last write: reads wait until the read models have it.
    let written = writer["consistency_token"].as_str().expect("token").to_owned();
    let writer = writer["key"].as_str().expect("key");

    for path in [
        format!("/api/v1/projects/{project}"),
        format!("/api/v1/projects/{project}/stats"),
        format!("/api/v1/agents/{builder}"),
        format!("/api/v1/agents/{builder}/status"),
        format!("/api/v1/conversations/{conversation}/messages"),
    ] {
        let read = app.get_consistent(&path, reader, &written).await;
        assert_eq!(read.status, 200, "{path}: {}", read.text());
        app.request("GET", &path, Some(writer), None)
            .await
            .assert_problem(403);
    }
    for path in [
        format!("/api/v1/projects/{other}"),
        format!("/api/v1/agents/{outsider}"),
        "/api/v1/projects".to_owned(),
    ] {
        app.request("GET", &path, Some(reader), None)
            .await
            .assert_problem(403);
    }
}
