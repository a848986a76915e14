//! Security review F7 and F16: what a command names (a task, a
//! conversation, an agent) must be its own project's, and who a message
//! speaks as comes from the credential, not from the body.

use serde_json::{Value, json};

use crate::support::spawn_app;

#[tokio::test]
async fn usage_and_conflicts_may_name_only_their_own_projects_tasks_conversations_and_agents() {
    let app = spawn_app().await;
    let victim = app.user("victim").await;
    let (victims, _) = app.project(&victim, "Victim's").await;
    let victim_agent = app.agent(&victim, &victims, "Theirs").await;
    let task = app
        .request(
            "POST",
            &format!("/api/v1/agents/{victim_agent}/tasks"),
            Some(&victim.token),
            Some(&json!({"title": "one"})),
        )
        .await
        .json()["task_id"]
        .as_str()
        .expect("task")
        .to_owned();
    let (victim_conversation, _) = app.conversation(&victim, &victims, "Theirs").await;

    let attacker = app.user("attacker").await;
    let (own, _) = app.project(&attacker, "Attacker's").await;
    let own_agent = app.agent(&attacker, &own, "Mine").await;
    let before = app.event_count().await;
    let usage = format!("/api/v1/agents/{own_agent}/usage");
    for (field, body) in [
        (
            "task_id",
            json!({"model": "gemini-pro", "input_tokens": 777_777, "output_tokens": 1, "task_id": task}),
        ),
        (
            "conversation_id",
            json!({"model": "gemini-pro", "input_tokens": 1, "output_tokens": 1, "conversation_id": victim_conversation}),
        ),
        (
            "task_id",
            json!({"model": "gemini-pro", "input_tokens": 1, "output_tokens": 1, "task_id": uuid::Uuid::now_v7()}),
        ),
    ] {
        let problem = app
            .request("POST", &usage, Some(&attacker.token), Some(&body))
            .await
            .assert_problem(422);
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let conflict = app
        .request(
            "POST",
            "/api/v1/conflicts",
            Some(&attacker.token),
            Some(&json!({"project_id": own, "kind": "code", "description": "x", "agent_ids": [own_agent, victim_agent]})),
        )
        .await
        .assert_problem(422);
    assert_eq!(conflict["errors"][0]["field"], "agent_ids", "{conflict}");
    assert_eq!(app.event_count().await, before, "nothing was appended");

    // Naming what is its own still works.
    let fine = app
        .request(
            "POST",
            &format!("/api/v1/agents/{victim_agent}/usage"),
            Some(&victim.token),
            Some(&json!({"model": "gemini-pro", "input_tokens": 10, "output_tokens": 1, "task_id": task, "conversation_id": victim_conversation})),
        )
        .await;
    assert_eq!(fine.status, 201, "{}", fine.text());
}

#[tokio::test]
async fn a_message_speaks_as_its_credential_says_not_as_its_body_claims() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Voices").await;
    let agent = app.agent(&owner, &project, "Writer").await;
    let (conversation, _) = app.conversation(&owner, &project, "Chat").await;
    let other = app.user("other").await;
    let (elsewhere, _) = app.project(&other, "Elsewhere").await;
    let foreign_agent = app.agent(&other, &elsewhere, "Foreign").await;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let unbound = app
        .api_key(&owner, &project, json!(["messages:write"]), None)
        .await;
    let bound = app
        .api_key(&owner, &project, json!(["messages:write"]), Some(&agent))
        .await;
    let before = app.event_count().await;

    // A person writes as a user: the body cannot make them an agent or the system.
    for (field, body) in [
        (
            "role",
            json!({"content": "x", "role": "agent", "agent_id": agent}),
        ),
        ("role", json!({"content": "x", "role": "system"})),
        ("agent_id", json!({"content": "x", "agent_id": agent})),
    ] {
        let problem = app
            .request("POST", &path, Some(&owner.token), Some(&body))
            .await
            .assert_problem(422);
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // A key not bound to an agent must name one of its project's agents.
    for (field, body) in [
        ("agent_id", json!({"content": "x"})),
        (
            "agent_id",
            json!({"content": "x", "role": "agent", "agent_id": foreign_agent}),
        ),
        (
            "role",
            json!({"content": "x", "role": "system", "agent_id": agent}),
        ),
    ] {
        let problem = app
            .request("POST", &path, Some(&unbound), Some(&body))
            .await
            .assert_problem(422);
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert_eq!(app.event_count().await, before, "nothing was appended");

    // A bound key speaks as its agent, whatever the body leaves out.
    let sent = app
        .request(
            "POST",
            &path,
            Some(&bound),
            Some(&json!({"content": "from the agent"})),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text());
    assert_eq!(sent.json()["role"], "agent");
    assert_eq!(sent.json()["agent_id"], agent.as_str());
    let named = app
        .request(
            "POST",
            &path,
            Some(&unbound),
            Some(&json!({"content": "named", "agent_id": agent})),
        )
        .await;
    assert_eq!(named.status, 201, "{}", named.text());
    assert_eq!(named.json()["role"], "agent");
    let person = app.send_message(&owner, &conversation, "from the person").await;
    assert_eq!(person["role"], "user");
    assert_eq!(person["agent_id"], Value::Null);
}
