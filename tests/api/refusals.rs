//! Decide, then act (security review F5): on every write route, a caller
//! the route refuses changes nothing — no event, no lock taken or freed on
//! the context bus (Redis), no rebuild requested. The routes come from the
//! served OpenAPI document, so a new write route must join the table here.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::app::{TestApp, User};
use crate::support::spawn_app;

/// Write routes any signed-in person (or no one) may use on their own
/// behalf: nothing of another person's is theirs to refuse.
const OWN_OR_ANONYMOUS: &[&str] = &[
    "POST /api/v1/auth/forgot-password",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/refresh-token",
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/reset-password",
    "POST /api/v1/auth/verify-email",
    // Only the invited address's owner joins (tests/api/invitations.rs).
    "POST /api/v1/invitations/accept",
    "PUT /api/v1/preferences",
    "POST /api/v1/preferences/export",
    "POST /api/v1/preferences/import",
    "DELETE /api/v1/preferences/reset",
    "POST /api/v1/projects",
    "DELETE /api/v1/users/me",
    "PATCH /api/v1/users/me",
    "POST /api/v1/users/me/password",
    // Another person's session is a 404 and ends nothing (tests/api/people.rs).
    "DELETE /api/v1/users/me/sessions/{session_id}",
];

/// Every non-GET operation of the served document, as `METHOD /path`.
async fn write_routes(app: &TestApp) -> BTreeSet<String> {
    let spec = app.request("GET", "/openapi.json", None, None).await.json();
    let mut routes = BTreeSet::new();
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            if method != "get" {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

/// What a refused request could have changed: the events, the locks held
/// in the project, the rebuild requests (read once the read side has the
/// setup's last write, `consistency`).
async fn observable(
    app: &TestApp,
    owner: &User,
    project: &str,
    consistency: &str,
) -> (i64, Value, i64, usize) {
    let locks = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/locks"),
            &owner.token,
            consistency,
        )
        .await;
    assert_eq!(locks.status, 200, "{}", locks.text());
    let rebuilds: i64 = app
        .db
        .connect()
        .await
        .query_one("SELECT count(*) FROM projection_rebuilds", &[])
        .await
        .expect("rebuilds")
        .get(0);
    (app.event_count().await, locks.json(), rebuilds, stored_files(app))
}

/// Files in the app's sources directory (blobs and any staging object).
fn stored_files(app: &TestApp) -> usize {
    let mut count = 0;
    let mut stack = vec![crate::support::database::sources_dir(&app.db.url)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                count += 1;
            }
        }
    }
    count
}

#[tokio::test]
async fn a_refused_caller_changes_nothing_on_any_write_route() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let viewer = app.user("viewer").await;
    let stranger = app.user("stranger").await;
    let member = app.user("member").await;
    let (project, _) = app.project(&owner, "Guarded").await;
    app.add_member(&owner, &project, &viewer, "viewer").await;
    app.add_member(&owner, &project, &member, "admin").await;
    let agent = app.agent(&owner, &project, "Builder").await;
    let created = |response: crate::support::http::Response, field: &str| -> String {
        assert!(response.status < 300, "{}", response.text());
        response.json()[field].as_str().expect(field).to_owned()
    };
    let lock = created(
        app.request(
            "POST",
            &format!("/api/v1/projects/{project}/locks"),
            Some(&owner.token),
            Some(&json!({"file_path": "src/held.rs", "agent_id": agent, "ttl_seconds": 600})),
        )
        .await,
        "lock_id",
    );
    let (conversation, _) = app.conversation(&owner, &project, "Chat").await;
    let message = app.send_message(&owner, &conversation, "mine").await["id"]
        .as_str()
        .expect("message id")
        .to_owned();
    let task = created(
        app.request(
            "POST",
            &format!("/api/v1/agents/{agent}/tasks"),
            Some(&owner.token),
            Some(&json!({"title": "Build"})),
        )
        .await,
        "task_id",
    );
    let conflict = created(
        app.request(
            "POST",
            "/api/v1/conflicts",
            Some(&owner.token),
            Some(
                &json!({"project_id": project, "kind": "code", "description": "clash", "agent_ids": [agent]}),
            ),
        )
        .await,
        "id",
    );
    let source = created(
        app.raw(
            "POST",
            &format!("/api/v1/projects/{project}/sources?name=held.txt"),
            &[
                ("Authorization", &format!("Bearer {}", owner.token)),
                ("Content-Type", "text/plain"),
            ],
            Some(b"held"),
        )
        .await,
        "id",
    );
    let folder = created(
        app.request(
            "POST",
            &format!("/api/v1/projects/{project}/source-folders"),
            Some(&owner.token),
            Some(&json!({"name": "held"})),
        )
        .await,
        "id",
    );
    // A key issued by a project admin who is then made a viewer acts as a viewer.
    let demoted_key = created(
        app.request(
            "POST",
            &format!("/api/v1/projects/{project}/api-keys"),
            Some(&member.token),
            Some(&json!({"name": "ci", "scopes": ["locks:write", "usage:write", "messages:write"]})),
        )
        .await,
        "key",
    );
    let owner_key_id = created(
        app.request(
            "POST",
            &format!("/api/v1/projects/{project}/api-keys"),
            Some(&owner.token),
            Some(&json!({"name": "owner's", "scopes": ["read"]})),
        )
        .await,
        "id",
    );
    let demoted = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/members"),
            Some(&owner.token),
            Some(&json!({"user_id": member.id, "role": "viewer"})),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.text());
    let consistency = demoted.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let p = format!("/api/v1/projects/{project}");
    let table: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/api/v1/agents".into(),
            Some(
                json!({"project_id": project, "name": "Intruder", "kind": "developer", "model": "claude-sonnet"}),
            ),
        ),
        (
            "POST",
            format!("/api/v1/agents/{agent}/status"),
            Some(json!({"status": "working"})),
        ),
        (
            "POST",
            format!("/api/v1/agents/{agent}/tasks"),
            Some(json!({"title": "Sneak"})),
        ),
        (
            "POST",
            format!("/api/v1/agents/{agent}/tasks/{task}/complete"),
            Some(json!({"outcome": "succeeded"})),
        ),
        (
            "POST",
            format!("/api/v1/agents/{agent}/usage"),
            Some(json!({"model": "claude-sonnet", "input_tokens": 1, "output_tokens": 1})),
        ),
        (
            "POST",
            "/api/v1/conflicts".into(),
            Some(json!({"project_id": project, "kind": "code", "description": "x", "agent_ids": [agent]})),
        ),
        ("POST", format!("/api/v1/conflicts/{conflict}/arbitrate"), None),
        (
            "POST",
            format!("/api/v1/conflicts/{conflict}/escalate"),
            Some(json!({"reason": "x"})),
        ),
        (
            "POST",
            format!("/api/v1/conflicts/{conflict}/resolve"),
            Some(json!({"strategy": "manual", "resolution": "mine"})),
        ),
        (
            "POST",
            "/api/v1/conversations".into(),
            Some(json!({"project_id": project, "title": "Mine now"})),
        ),
        ("DELETE", format!("/api/v1/conversations/{conversation}"), None),
        (
            "POST",
            format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (
            "DELETE",
            format!("/api/v1/conversations/{conversation}/messages/{message}"),
            None,
        ),
        (
            "PUT",
            format!("/api/v1/conversations/{conversation}/messages/{message}"),
            Some(json!({"content": "changed"})),
        ),
        (
            "PUT",
            "/api/v1/pricing/models/claude-sonnet".into(),
            Some(json!({"input_usd_per_million": "0", "output_usd_per_million": "0"})),
        ),
        ("POST", "/api/v1/projections/conversations/rebuild".into(), None),
        ("POST", "/api/v1/audit/verifications".into(), None),
        (
            "POST",
            "/api/v1/projections/conversations/skips".into(),
            Some(json!({"position": 1, "reason": "x"})),
        ),
        ("DELETE", p.clone(), None),
        ("PUT", p.clone(), Some(json!({"name": "Taken"}))),
        (
            "POST",
            format!("{p}/api-keys"),
            Some(json!({"name": "mine", "scopes": ["read"]})),
        ),
        ("DELETE", format!("{p}/api-keys/{owner_key_id}"), None),
        (
            "POST",
            format!("{p}/locks"),
            Some(json!({"file_path": "src/other.rs", "agent_id": agent})),
        ),
        ("DELETE", format!("{p}/locks/{lock}"), None),
        (
            "POST",
            format!("{p}/members"),
            Some(json!({"user_id": stranger.id, "role": "admin"})),
        ),
        ("DELETE", format!("{p}/members/{}", owner.id), None),
        (
            "POST",
            format!("{p}/stage"),
            Some(json!({"stage": "architecture"})),
        ),
        ("POST", format!("{p}/execution"), Some(json!({}))),
        ("POST", format!("{p}/execution/pause"), None),
        ("POST", format!("{p}/execution/resume"), None),
        ("POST", format!("{p}/execution/cancel"), None),
        (
            "POST",
            format!("/api/v1/agents/{agent}/tasks/{task}/heartbeat"),
            None,
        ),
        (
            "POST",
            format!("{p}/webhooks"),
            Some(
                json!({"url": "https://hooks.example.com/x", "events": ["task:created"], "secret": "0123456789abcdef"}),
            ),
        ),
        ("DELETE", format!("{p}/webhooks/{task}"), None),
        (
            "POST",
            format!("{p}/invitations"),
            Some(json!({"email": "guest@example.com", "role": "viewer"})),
        ),
        ("DELETE", format!("{p}/invitations/{task}"), None),
        (
            "POST",
            format!("{p}/sources?name=taken.txt"),
            Some(json!({"bytes": "x"})),
        ),
        (
            "PATCH",
            format!("/api/v1/sources/{source}"),
            Some(json!({"name": "taken.txt"})),
        ),
        ("DELETE", format!("/api/v1/sources/{source}"), None),
        (
            "POST",
            format!("{p}/source-folders"),
            Some(json!({"name": "taken"})),
        ),
        (
            "PATCH",
            format!("/api/v1/source-folders/{folder}"),
            Some(json!({"name": "taken"})),
        ),
        ("DELETE", format!("/api/v1/source-folders/{folder}"), None),
    ];

    // Every write route is either in the table or a person's own.
    let covered: BTreeSet<String> = table
        .iter()
        .map(|(method, path, _)| {
            let template = path
                .split('?')
                .next()
                .unwrap_or(path)
                .replace(&project, "{id}")
                .replace(&source, "{id}")
                .replace(&folder, "{id}")
                .replace(&agent, "{id}")
                .replace(&conflict, "{id}")
                .replace(&conversation, "{id}")
                .replace(&format!("webhooks/{task}"), "webhooks/{webhook_id}")
                .replace(&format!("invitations/{task}"), "invitations/{invitation_id}")
                .replace(&task, "{task_id}")
                .replace(&message, "{message_id}")
                .replace(&lock, "{lock_id}")
                .replace(&owner_key_id, "{key_id}")
                .replace(&owner.id, "{user_id}")
                .replace("claude-sonnet", "{model}")
                .replace("/conversations/rebuild", "/{name}/rebuild")
                .replace("/conversations/skips", "/{name}/skips");
            format!("{method} {template}")
        })
        .chain(OWN_OR_ANONYMOUS.iter().map(|r| (*r).to_owned()))
        .collect();
    let routes = write_routes(&app).await;
    let missing: Vec<_> = routes.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "write routes this test does not try: {missing:?}"
    );

    let before = observable(&app, &owner, &project, &consistency).await;
    let demoted_bearer = format!("Bearer {demoted_key}");
    for (method, path, body) in &table {
        for (who, bearer) in [
            ("viewer", format!("Bearer {}", viewer.token)),
            ("stranger", format!("Bearer {}", stranger.token)),
            ("a key of a demoted member", demoted_bearer.clone()),
        ] {
            let bytes = body.as_ref().map(|b| b.to_string().into_bytes());
            let answer = app
                .raw(
                    method,
                    path,
                    &[("Authorization", &bearer), ("Content-Type", "application/json")],
                    bytes.as_deref(),
                )
                .await;
            assert!(
                [401, 403, 404].contains(&answer.status),
                "{who}: {method} {path} answered {}: {}",
                answer.status,
                answer.text()
            );
            assert_eq!(
                observable(&app, &owner, &project, &consistency).await,
                before,
                "{who}: {method} {path} was refused ({}) but changed something",
                answer.status
            );
        }
    }
}
