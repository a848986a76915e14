//! Commands decided on facts from another stream's state in memory (who may
//! write to a project, the price in force) append under a guard: when
//! another process changed those facts, the append fails and the command is
//! built again on the facts as stored. Two command processes over one
//! database: one changes the facts, the other must not act on its memory.

use serde_json::json;
use zekka::Services;

use crate::support::app::{Client, start_service, test_config};
use crate::support::spawn_app;

fn send(content: &str) -> serde_json::Value {
    json!({ "content": content })
}

#[tokio::test]
async fn a_member_removed_through_another_process_is_refused_and_one_added_is_let_in() {
    let app = spawn_app().await;
    let (second, _stop) = start_service(test_config(&app.db.url), Services::CommandApi).await;
    let other = Client { addr: second };
    let owner = app.verified_user("owner").await;
    let member = app.verified_user("member").await;
    let newcomer = app.verified_user("newcomer").await;
    let (project, _) = app.project(&owner, "Guarded").await;
    app.add_member(&owner, &project, &member, "member").await;
    let (conversation, _) = app.conversation(&owner, &project, "Talk").await;
    let path = format!("/api/v1/conversations/{conversation}/messages");

    // The other process learns the project (and keeps it in memory).
    let sent = other
        .request("POST", &path, Some(&member.token), Some(&send("hello")))
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text());
    let refused = other
        .request("POST", &path, Some(&newcomer.token), Some(&send("let me in")))
        .await;
    assert!(
        refused.status == 403 || refused.status == 404,
        "{}",
        refused.text()
    );

    // Through the first process: the member leaves, the newcomer joins.
    let removed = app
        .request(
            "DELETE",
            &format!("/api/v1/projects/{project}/members/{}", member.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert!(removed.status < 300, "{}", removed.text());
    app.add_member(&owner, &project, &newcomer, "member").await;

    // The other process's memory says the opposite of both; the store decides.
    let after = other
        .request("POST", &path, Some(&member.token), Some(&send("still here?")))
        .await;
    assert!(after.status == 403 || after.status == 404, "{}", after.text());
    let joined = other
        .request("POST", &path, Some(&newcomer.token), Some(&send("thanks")))
        .await;
    assert_eq!(joined.status, 201, "{}", joined.text());

    let stored: Vec<String> = app
        .db
        .connect()
        .await
        .query(
            "SELECT payload->'MessageSent'->>'author_id' FROM events
              WHERE aggregate_type = 'Conversation' AND aggregate_id = $1
                AND event_type = 'MessageSent' ORDER BY sequence",
            &[&conversation],
        )
        .await
        .expect("messages")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, vec![member.id.clone(), newcomer.id.clone()]);
}

#[tokio::test]
async fn usage_is_charged_at_a_price_set_through_another_process() {
    let app = spawn_app().await;
    let (second, _stop) = start_service(test_config(&app.db.url), Services::CommandApi).await;
    let other = Client { addr: second };
    let admin = app.admin("admin").await;
    let (project, _) = app.project(&admin, "Charged").await;
    let agent = app.agent(&admin, &project, "Coder").await;
    let usage = format!("/api/v1/agents/{agent}/usage");
    let million = json!({"model": "claude-sonnet", "input_tokens": 1_000_000, "output_tokens": 1_000_000});

    // The other process charges at the price it holds in memory…
    let first = other
        .request("POST", &usage, Some(&admin.token), Some(&million))
        .await;
    assert_eq!(first.status, 201, "{}", first.text());
    let cost = |answer: &crate::support::http::Response| -> f64 {
        answer.json()["cost_usd"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .expect("a cost")
    };
    let before = cost(&first);

    // …which the first process changes.
    let set = app
        .request(
            "PUT",
            "/api/v1/pricing/models/claude-sonnet",
            Some(&admin.token),
            Some(&json!({"input_usd_per_million": "2.5", "output_usd_per_million": "12"})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    let second_usage = other
        .request("POST", &usage, Some(&admin.token), Some(&million))
        .await;
    assert_eq!(second_usage.status, 201, "{}", second_usage.text());
    assert!(
        (cost(&second_usage) - 14.5).abs() < 1e-9,
        "{}",
        second_usage.text()
    );
    assert!((before - 14.5).abs() > 1e-9, "the price did change: {before}");
}
