//! command-api keeps the last known state of aggregates in memory and
//! decides commands on it. With two command-api processes over one
//! database, each one's memory goes stale as the other writes: these tests
//! show that it never decides on that staleness — no wrong refusal, no
//! wrong acceptance, no lost or doubled event.

use serde_json::json;
use zekka::Services;

use crate::support::app::{Client, start_service, test_config};
use crate::support::spawn_app;

#[tokio::test]
async fn a_second_command_api_never_decides_on_state_the_first_has_changed() {
    let app = spawn_app().await;
    let (other_addr, _other) = start_service(test_config(&app.db.url), Services::CommandApi).await;
    let other = Client { addr: other_addr };
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let (project, _) = app.project(&owner, "Two writers").await;
    let (conversation, _) = app.conversation(&owner, &project, "Shared").await;
    let messages = format!("/api/v1/conversations/{conversation}/messages");
    let say = |text: &str| json!({"content": text});

    // The other process learns the project without the member: refused.
    let refused = other
        .request("POST", &messages, Some(&member.token), Some(&say("too early")))
        .await;
    assert_eq!(refused.status, 404, "{}", refused.text());

    // This process adds the member; the other one must see it at once.
    app.add_member(&owner, &project, &member, "member").await;
    let accepted = other
        .request("POST", &messages, Some(&member.token), Some(&say("now a member")))
        .await;
    assert_eq!(accepted.status, 201, "{}", accepted.text());

    // The other process now holds the conversation in memory; this one
    // moves it on. The other's next send decides on stale state, conflicts
    // on the stream's key and is decided again: accepted, numbered after.
    for n in 0..5 {
        app.send_message(&owner, &conversation, &format!("from the first {n}"))
            .await;
    }
    let after = other
        .request("POST", &messages, Some(&member.token), Some(&say("after five")))
        .await;
    assert_eq!(after.status, 201, "{}", after.text());

    // Archived here; the other process still thinks it active, would
    // accept, conflicts, and refuses on the stored stream.
    let archived = app
        .request(
            "DELETE",
            &format!("/api/v1/conversations/{conversation}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert!(archived.status < 300, "{}", archived.text());
    let late = other
        .request("POST", &messages, Some(&member.token), Some(&say("too late")))
        .await;
    assert_eq!(late.status, 409, "{}", late.text());
    late.assert_problem(409);

    // A refusal decided on stale state is decided again on the stored one:
    // the other process knows the project at `requirements`; this one moves
    // it to `architecture`; `database` is then the right next stage.
    let stage = format!("/api/v1/projects/{project}/stage");
    let first = other
        .request(
            "POST",
            &stage,
            Some(&owner.token),
            Some(&json!({"stage": "architecture"})),
        )
        .await;
    assert!(first.status < 300, "{}", first.text());
    let moved = app
        .request(
            "POST",
            &stage,
            Some(&owner.token),
            Some(&json!({"stage": "database"})),
        )
        .await;
    assert!(moved.status < 300, "{}", moved.text());
    let next = other
        .request("POST", &stage, Some(&owner.token), Some(&json!({"stage": "api"})))
        .await;
    assert!(
        next.status < 300,
        "decided on the stored stage, not the remembered one: {}",
        next.text()
    );

    let client = app.db.connect().await;
    let rows = client
        .query(
            "SELECT sequence, event_type, (payload -> 'MessageSent' ->> 'number')::bigint
               FROM events WHERE aggregate_type = 'Conversation' AND aggregate_id = $1
              ORDER BY sequence",
            &[&conversation],
        )
        .await
        .expect("stream");
    let sequences: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let expected: Vec<i64> = (1..=i64::try_from(rows.len()).expect("small")).collect();
    assert_eq!(sequences, expected, "no gap, no duplicate");
    let numbers: Vec<i64> = rows.iter().filter_map(|r| r.get::<_, Option<i64>>(2)).collect();
    assert_eq!(
        numbers,
        (1..=7).collect::<Vec<i64>>(),
        "seven messages, numbered in order"
    );
    assert_eq!(
        rows.last().map(|r| r.get::<_, String>(1)).as_deref(),
        Some("ConversationArchived"),
        "nothing after the archive"
    );
}

#[tokio::test]
async fn usage_charged_through_two_processes_is_never_lost_and_respects_the_budget() {
    let app = spawn_app().await;
    let (other_addr, _other) = start_service(test_config(&app.db.url), Services::CommandApi).await;
    let other = Client { addr: other_addr };
    let owner = app.user("owner").await;
    let created = app
        .request(
            "POST",
            "/api/v1/projects",
            Some(&owner.token),
            Some(&json!({"name": "Budgeted", "budget_usd": "1.00"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let project = created.json()["id"].as_str().expect("id").to_owned();
    let agent = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&owner.token),
            Some(&json!({"project_id": project, "name": "coder", "kind": "developer", "model": "claude-sonnet"})),
        )
        .await;
    assert_eq!(agent.status, 201, "{}", agent.text());
    let usage = format!(
        "/api/v1/agents/{}/usage",
        agent.json()["id"].as_str().expect("id")
    );
    // 10,000 output tokens at 15 USD per million: 0.15 USD each.
    let record = json!({"model": "claude-sonnet", "input_tokens": 0, "output_tokens": 10000});

    // Both processes charge the same project at once, 10 each: 0.15 USD
    // each against 1.00 USD, so exactly 6 fit.
    let mut sends = Vec::new();
    for n in 0..20 {
        let (client, path, body, token) = (
            if n % 2 == 0 { *app } else { other },
            usage.clone(),
            record.clone(),
            owner.token.clone(),
        );
        sends.push(tokio::spawn(async move {
            client
                .request("POST", &path, Some(&token), Some(&body))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.expect("task"));
    }
    let accepted = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 402).count();
    assert_eq!((accepted, refused), (6, 14), "statuses: {statuses:?}");

    let client = app.db.connect().await;
    let stored: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Project' AND aggregate_id = $1
               AND event_type = 'TokenUsageRecorded'",
            &[&project],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 6, "every accepted usage is stored, and nothing else");
}
