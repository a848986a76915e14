//! File locks on the context bus (issue 12): two agents racing for one
//! file get one lock, one 409 and one conflict; fencing tokens increase
//! across release and expiry; bad input is a 4xx that changes nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::spawn_app;

async fn conflicts_reported(app: &TestApp, project: &str) -> i64 {
    let client = app.db.connect().await;
    client
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'ConflictReported'
                AND payload -> 'ConflictReported' ->> 'project_id' = $1",
            &[&project],
        )
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn two_agents_racing_for_one_file_get_one_lock_one_409_and_one_conflict() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Contended file").await;
    let (a, b) = (
        app.agent(&owner, &project, "a").await,
        app.agent(&owner, &project, "b").await,
    );
    let key_a = app
        .api_key(&owner, &project, json!(["locks:write"]), Some(&a))
        .await;
    let key_b = app
        .api_key(&owner, &project, json!(["locks:write", "read"]), Some(&b))
        .await;
    let locks = format!("/api/v1/projects/{project}/locks");
    let ask = |agent: &str| json!({"file_path": "src/lib.rs", "agent_id": agent});

    let (ask_a, ask_b) = (ask(&a), ask(&b));
    let (first, second) = tokio::join!(
        app.request("POST", &locks, Some(&key_a), Some(&ask_a)),
        app.request("POST", &locks, Some(&key_b), Some(&ask_b)),
    );
    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", first.text(), second.text());
    let (won, lost, winner, loser, loser_key) = if first.status == 201 {
        (first, second, a.clone(), b.clone(), key_b.clone())
    } else {
        (second, first, b.clone(), a.clone(), key_a.clone())
    };
    let refused = lost.assert_problem(409);
    assert_eq!(refused["holder_agent_id"], winner.as_str(), "{refused}");
    assert!(refused["conflict_id"].is_string(), "{refused}");

    // Retries in the same episode are refused and report nothing more.
    for _ in 0..3 {
        app.request("POST", &locks, Some(&loser_key), Some(&ask(&loser)))
            .await
            .assert_problem(409);
    }
    assert_eq!(conflicts_reported(&app, &project).await, 1);
    let conflict = app
        .request(
            "GET",
            &format!(
                "/api/v1/conflicts/{}",
                refused["conflict_id"].as_str().expect("id")
            ),
            Some(&owner.token),
            None,
        )
        .await;
    // The conflict is projected shortly after; its stream names both agents.
    let client = app.db.connect().await;
    let reported: Value = client
        .query_one(
            "SELECT payload -> 'ConflictReported' FROM events WHERE event_type = 'ConflictReported'
                AND aggregate_id = $1",
            &[&refused["conflict_id"].as_str().expect("id")],
        )
        .await
        .expect("reported")
        .get(0);
    assert_eq!(reported["kind"], "code", "{reported} {}", conflict.text());
    assert_eq!(reported["file_path"], "src/lib.rs");
    assert_eq!(reported["agent_ids"], json!([winner, loser]));

    // The holder is listed; released, the file goes to the other agent
    // with a larger fencing token.
    let held = app.request("GET", &locks, Some(&owner.token), None).await;
    assert_eq!(held.status, 200, "{}", held.text());
    assert_eq!(
        held.json()["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        held.text()
    );
    assert_eq!(held.json()["items"][0]["agent_id"], winner.as_str());
    let lock = won.json();
    let released = app
        .request(
            "DELETE",
            &format!("{locks}/{}", lock["lock_id"].as_str().expect("lock id")),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(released.status, 204, "{}", released.text());
    let next = app
        .request("POST", &locks, Some(&loser_key), Some(&ask(&loser)))
        .await;
    assert_eq!(next.status, 201, "{}", next.text());
    assert!(
        next.json()["fencing_token"].as_i64() > lock["fencing_token"].as_i64(),
        "{} after {lock}",
        next.text()
    );

    // Auditors see who held what: two acquisitions and one release.
    let recorded: Vec<(String, i64)> = client
        .query(
            "SELECT event_type, count(*) FROM events WHERE aggregate_type = 'Agent'
                AND event_type LIKE 'FileLock%' GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .expect("lock events")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        recorded,
        vec![
            ("FileLockAcquired".to_owned(), 2),
            ("FileLockReleased".to_owned(), 1)
        ]
    );
}

#[tokio::test]
async fn fencing_tokens_keep_increasing_when_a_lock_lapses() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Lapsing").await;
    let (a, b) = (
        app.agent(&owner, &project, "a").await,
        app.agent(&owner, &project, "b").await,
    );
    let locks = format!("/api/v1/projects/{project}/locks");
    let first = app
        .request(
            "POST",
            &locks,
            Some(&owner.token),
            Some(&json!({"file_path": "README.md", "agent_id": a, "ttl_seconds": 1})),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text());
    // Asking again for the same agent changes nothing.
    let again = app
        .request(
            "POST",
            &locks,
            Some(&owner.token),
            Some(&json!({"file_path": "README.md", "agent_id": a})),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["lock_id"], first.json()["lock_id"]);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let second = app
        .request(
            "POST",
            &locks,
            Some(&owner.token),
            Some(&json!({"file_path": "README.md", "agent_id": b})),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text());
    assert!(second.json()["fencing_token"].as_i64() > first.json()["fencing_token"].as_i64());
}

#[tokio::test]
async fn bad_lock_requests_are_4xx_problems_and_change_nothing() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Guarded files").await;
    let (other_project, _) = app.project(&owner, "Other files").await;
    let mine = app.agent(&owner, &project, "mine").await;
    let theirs = app.agent(&owner, &other_project, "theirs").await;
    let usage_only = app
        .api_key(&owner, &project, json!(["usage:write"]), Some(&mine))
        .await;
    let locks = format!("/api/v1/projects/{project}/locks");
    let before = app.event_count().await;

    let cases = [
        (&owner.token, json!({"file_path": "", "agent_id": mine}), 422),
        (&owner.token, json!({"file_path": "   ", "agent_id": mine}), 422),
        (
            &owner.token,
            json!({"file_path": "a\u{7}b", "agent_id": mine}),
            422,
        ),
        (
            &owner.token,
            json!({"file_path": "x".repeat(1025), "agent_id": mine}),
            422,
        ),
        (
            &owner.token,
            json!({"file_path": "f", "agent_id": mine, "ttl_seconds": 0}),
            422,
        ),
        (
            &owner.token,
            json!({"file_path": "f", "agent_id": mine, "ttl_seconds": 3601}),
            422,
        ),
        (&owner.token, json!({"file_path": "f", "agent_id": theirs}), 422),
        (&owner.token, json!({"file_path": "f"}), 400),
        (&usage_only, json!({"file_path": "f", "agent_id": mine}), 403),
        (&stranger.token, json!({"file_path": "f", "agent_id": mine}), 404),
    ];
    for (token, body, status) in cases {
        app.request("POST", &locks, Some(token), Some(&body))
            .await
            .assert_problem(status);
    }
    app.request(
        "DELETE",
        &format!("{locks}/0190b5b4-0000-7000-8000-000000000000"),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(404);
    app.request("GET", &locks, Some(&usage_only), None)
        .await
        .assert_problem(403);
    app.request("GET", &locks, Some(&stranger.token), None)
        .await
        .assert_problem(404);
    assert_eq!(app.event_count().await, before);
}
