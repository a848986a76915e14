//! Security review F11 and F12: the audit never shows a secret's digest,
//! and the address and user agent of a request only to auditors, admins and
//! the person who sent it — in the audit as in a GDPR export.

use serde_json::{Value, json};

use crate::support::app::{TestApp, User};
use crate::support::spawn_app;

/// Every value under a key named `key`, anywhere in `value`.
fn values_of<'a>(value: &'a Value, key: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    found.push(v);
                }
                values_of(v, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| values_of(v, key, found)),
        _ => {}
    }
}

/// `owner` adds `member` to `project` with `role`, from a browser whose
/// user agent is `agent`; returns the answer's consistency token.
async fn add_member_from(
    app: &TestApp,
    owner: &User,
    project: &str,
    member: &User,
    role: &str,
    agent: &str,
) -> String {
    let body = json!({"user_id": member.id, "role": role}).to_string();
    let added = app
        .raw(
            "POST",
            &format!("/api/v1/projects/{project}/members"),
            &[
                ("Authorization", &format!("Bearer {}", owner.token)),
                ("Content-Type", "application/json"),
                ("User-Agent", agent),
            ],
            Some(body.as_bytes()),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text());
    added.header("x-consistency-token").expect("token").to_owned()
}

fn all_redacted(value: &Value, key: &str) -> bool {
    let mut found = Vec::new();
    values_of(value, key, &mut found);
    assert!(!found.is_empty(), "no {key} in {value}");
    found.iter().all(|v| match v {
        Value::String(s) => s == "[redacted]",
        Value::Array(items) => items.iter().all(|i| i == "[redacted]"),
        _ => false,
    })
}

#[tokio::test]
async fn digests_are_always_redacted_and_network_details_shown_only_to_their_owner_and_auditors() {
    let app = spawn_app().await;
    let admin = app.admin("auditor").await;
    let owner = app.user("owner").await;
    let viewer = app.user("viewer").await;
    let (project, _) = app.project(&owner, "Audited").await;
    add_member_from(&app, &owner, &project, &viewer, "viewer", "Owner-Browser/1.0").await;
    let key = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/api-keys"),
            Some(&owner.token),
            Some(&json!({"name": "ci", "scopes": ["read"]})),
        )
        .await;
    let consistency = key.header("x-consistency-token").expect("token").to_owned();
    let stream = format!("/api/v1/audit/streams/Project/{project}?limit=200");

    let as_viewer = app
        .get_consistent(&stream, &viewer.token, &consistency)
        .await
        .json();
    assert!(all_redacted(&as_viewer, "secret_digest"), "{as_viewer}");
    let items = as_viewer["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .all(|e| e["client_ip"].is_null() && e["user_agent"].is_null()),
        "a viewer sees the owner's network details: {as_viewer}"
    );
    let as_owner = app
        .get_consistent(&stream, &owner.token, &consistency)
        .await
        .json();
    assert!(all_redacted(&as_owner, "secret_digest"));
    let member_added = as_owner["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["event_type"] == "ProjectMemberAdded")
        .cloned()
        .unwrap_or_default();
    assert_eq!(member_added["user_agent"], "Owner-Browser/1.0", "{as_owner}");
    let as_admin = app
        .get_consistent(&stream, &admin.token, &consistency)
        .await
        .json();
    assert!(
        as_admin["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| !e["client_ip"].is_null())
    );

    // The account's own state: the digests of its one-time tokens, and a
    // session's rotated refresh-token digests.
    app.request(
        "POST",
        "/api/v1/auth/forgot-password",
        None,
        Some(&json!({"email": owner.email})),
    )
    .await;
    app.mail(&owner.email, "password_reset").await;
    let user_state = app
        .request(
            "GET",
            &format!("/api/v1/audit/streams/User/{}/state", owner.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(user_state.status, 200, "{}", user_state.text());
    let user_state = user_state.json();
    assert!(all_redacted(&user_state, "hash"), "{user_state}");
    assert!(all_redacted(&user_state, "password_hash"), "{user_state}");
    let refreshed = app
        .request(
            "POST",
            "/api/v1/auth/refresh-token",
            None,
            Some(&json!({"refresh_token": owner.refresh_token})),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    // The audit lists an event once its place in the commit order is final.
    let mut session_id = None;
    for _ in 0..250 {
        let sessions = app
            .request(
                "GET",
                "/api/v1/audit/events?aggregate_type=Session&limit=200",
                Some(&admin.token),
                None,
            )
            .await
            .json();
        session_id = sessions["items"]
            .as_array()
            .and_then(|items| items.iter().find(|e| e["event_type"] == "SessionRefreshed"))
            .and_then(|e| e["aggregate_id"].as_str().map(str::to_owned));
        if session_id.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let session_id = session_id.expect("a refreshed session");
    let session_state = app
        .request(
            "GET",
            &format!("/api/v1/audit/streams/Session/{session_id}/state"),
            Some(&admin.token),
            None,
        )
        .await
        .json();
    assert!(all_redacted(&session_state, "previous_hashes"), "{session_state}");
}

#[tokio::test]
async fn a_gdpr_export_holds_no_one_elses_network_details() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let (project, _) = app.project(&owner, "Shared").await;
    let consistency = add_member_from(&app, &owner, &project, &member, "member", "OwnerA-Browser/1.0").await;
    let export = app
        .get_consistent("/api/v1/users/me/export", &member.token, &consistency)
        .await;
    assert_eq!(export.status, 200, "{}", export.text());
    let text = export.text();
    assert!(
        !text.contains("OwnerA-Browser"),
        "another person's user agent: {text}"
    );
    let export = export.json();
    let mut addresses = Vec::new();
    values_of(&export["account_events"], "client_ip", &mut addresses);
    assert!(
        !addresses.is_empty() && addresses.iter().all(|a| !a.is_null()),
        "the member's own requests keep theirs: {export}"
    );
    let mut theirs = Vec::new();
    values_of(&export["projects"], "client_ip", &mut theirs);
    assert!(
        theirs.iter().all(|a| a.is_null()),
        "the owner's address: {export}"
    );
}
