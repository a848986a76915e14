//! Privacy: personal data is sealed at rest, erasure shreds it everywhere
//! while others' data and the audit trail stay intact, and the export holds
//! the person's data and nobody else's.

use serde_json::{Value, json};

use crate::support::app::{TestApp, User};
use crate::support::spawn_app;

/// A project of `owner` with `member`, a conversation `owner` started, and
/// messages from both; returns (project, conversation, last token).
async fn shared_conversation(app: &TestApp, owner: &User, member: &User) -> (String, String, String) {
    let (project, _) = app.project(owner, "Shared work").await;
    app.add_member(owner, &project, member, "member").await;
    let conversation = app
        .request(
            "POST",
            "/api/v1/conversations",
            Some(&owner.token),
            Some(&json!({"project_id": project, "title": "Quetzalcoatl launch plan"})),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let mut sent_token = String::new();
    for (user, text) in [
        (owner, "Xanthippe writes: the secret launch date is May"),
        (member, "Bartholomew answers: noted, May it is"),
        (owner, "Xanthippe again: keep it quiet"),
    ] {
        let sent = app
            .request("POST", &path, Some(&user.token), Some(&json!({"content": text})))
            .await;
        assert_eq!(sent.status, 201, "{}", sent.text());
        sent_token = sent.json()["consistency_token"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    let edited = app.get_consistent(&path, &owner.token, &sent_token).await.json()["items"][0]["id"]
        .as_str()
        .expect("message id")
        .to_owned();
    let edit = app
        .request(
            "PUT",
            &format!("{path}/{edited}"),
            Some(&owner.token),
            Some(&json!({"content": "Xanthippe corrects: the secret launch date is June"})),
        )
        .await;
    assert_eq!(edit.status, 200, "{}", edit.text());
    let token = app
        .request(
            "PUT",
            "/api/v1/preferences",
            Some(&owner.token),
            Some(&json!({"theme": "dark"})),
        )
        .await
        .json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    (project, conversation, token)
}

/// How many rows of the raw events table mention `needle` anywhere.
async fn events_mentioning(app: &TestApp, needle: &str) -> i64 {
    app.db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE payload::text ILIKE $1 OR metadata::text ILIKE $1",
            &[&format!("%{needle}%")],
        )
        .await
        .expect("scan events")
        .get(0)
}

#[tokio::test]
async fn personal_data_is_sealed_in_the_event_store_and_readable_through_the_api() {
    let app = spawn_app().await;
    let owner = app.user("Xanthippe").await;
    let member = app.user("Bartholomew").await;
    let (_, conversation, token) = shared_conversation(&app, &owner, &member).await;
    for needle in ["xanthippe", "bartholomew", "quetzalcoatl", "launch date"] {
        assert_eq!(events_mentioning(&app, needle).await, 0, "{needle} in plaintext");
    }
    let messages = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &member.token,
            &token,
        )
        .await
        .json();
    assert_eq!(
        messages["items"][1]["content"],
        "Bartholomew answers: noted, May it is"
    );
    let me = app
        .get_consistent("/api/v1/users/me", &owner.token, &token)
        .await
        .json();
    assert_eq!(me["display_name"], "Xanthippe");
    assert_eq!(me["email"], owner.email.to_lowercase().as_str());
}

#[tokio::test]
async fn erasure_shreds_a_person_everywhere_and_leaves_others_and_the_audit_trail_intact() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let owner = app.user("Xanthippe").await;
    let member = app.user("Bartholomew").await;
    let (project, conversation, token) = shared_conversation(&app, &owner, &member).await;
    // The owner's data is readable before.
    let before = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &member.token,
            &token,
        )
        .await
        .json();
    assert_eq!(
        before["items"][0]["content"],
        "Xanthippe corrects: the secret launch date is June"
    );

    let erased = app
        .request("DELETE", "/api/v1/users/me", Some(&owner.token), None)
        .await;
    assert_eq!(erased.status, 202, "{}", erased.text());
    let token = erased.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // The person is gone: no sign-in, no token, no account.
    app.login(&owner.email, crate::support::app::PASSWORD)
        .await
        .assert_problem(401);
    app.request("GET", "/api/v1/users/me", Some(&owner.token), None)
        .await
        .assert_problem(401);
    app.request(
        "POST",
        "/api/v1/auth/refresh-token",
        None,
        Some(&json!({"refresh_token": owner.refresh_token})),
    )
    .await
    .assert_problem(401);

    // Nothing readable of theirs remains: not in the events (raw SQL), not
    // in any read model, not in any answer.
    for needle in ["xanthippe", "quetzalcoatl", "secret launch", "keep it quiet"] {
        assert_eq!(events_mentioning(&app, needle).await, 0, "{needle} in the events");
    }
    let models = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &member.token,
            &token,
        )
        .await
        .json();
    let dump = app.db.dump(&["rm\\_%", "mail_outbox"]).await.to_lowercase();
    for needle in ["xanthippe", "quetzalcoatl", "secret launch", "keep it quiet"] {
        assert!(!dump.contains(needle), "{needle} in a read model");
    }
    assert!(
        !dump.contains(&owner.email.to_lowercase()),
        "the email in a read model"
    );
    let items = models["items"].as_array().expect("items");
    assert_eq!(items[0]["content"], Value::Null, "{models}");
    assert_eq!(items[2]["content"], Value::Null, "{models}");
    let conversation_view = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}"),
            &member.token,
            &token,
        )
        .await
        .json();
    assert_eq!(conversation_view["title"], "[erased]");
    let history = app
        .get_consistent(
            &format!("/api/v1/audit/streams/Conversation/{conversation}"),
            &admin.token,
            &token,
        )
        .await
        .json();
    let history = history.to_string().to_lowercase();
    assert!(
        !history.contains("xanthippe") && !history.contains("secret launch"),
        "{history}"
    );
    assert!(history.contains("[erased]"));

    // Everyone else's data is intact.
    assert_eq!(items[1]["content"], "Bartholomew answers: noted, May it is");
    assert!(history.contains("bartholomew answers"));
    let me = app
        .get_consistent("/api/v1/users/me", &member.token, &token)
        .await
        .json();
    assert_eq!(me["display_name"], "Bartholomew");
    let project_view = app
        .get_consistent(&format!("/api/v1/projects/{project}"), &member.token, &token)
        .await;
    assert_eq!(project_view.status, 200);

    // The audit trail still verifies: erasure changed no event.
    let report = app
        .request("GET", "/api/v1/audit/verify", Some(&admin.token), None)
        .await
        .json();
    assert_eq!(report["intact"], true, "{report}");

    // Re-registering the address makes a new person
    // (`an_erased_address_registers_again_as_a_new_person`).
}

#[tokio::test]
async fn the_export_holds_my_data_and_nothing_of_anyone_else() {
    let app = spawn_app().await;
    let owner = app.user("Xanthippe").await;
    let member = app.user("Bartholomew").await;
    let (project, conversation, token) = shared_conversation(&app, &owner, &member).await;
    let agent = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&owner.token),
            Some(&json!({"project_id": project, "name": "Helper", "kind": "developer", "model": "gpt-4"})),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for user in [&owner, &member] {
        let usage = app
            .request(
                "POST",
                &format!("/api/v1/agents/{agent}/usage"),
                Some(&user.token),
                Some(&json!({"model": "gpt-4", "input_tokens": 1000, "output_tokens": 10})),
            )
            .await;
        assert_eq!(usage.status, 201, "{}", usage.text());
    }

    let export = app
        .get_consistent("/api/v1/users/me/export", &owner.token, &token)
        .await;
    assert_eq!(export.status, 200, "{}", export.text());
    assert!(
        export
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let export: Value = serde_json::from_slice(&export.body).expect("valid JSON");
    assert_eq!(export["format"], "zekka.export.v1");
    assert_eq!(export["profile"]["display_name"], "Xanthippe");
    assert_eq!(export["profile"]["email"], owner.email.to_lowercase().as_str());
    assert_eq!(export["profile"]["user_id"], owner.id.as_str());
    let messages = export["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{export}");
    assert!(
        messages
            .iter()
            .all(|m| m["conversation_id"] == conversation.as_str())
    );
    assert_eq!(
        messages[0]["edits"][0]["content"],
        "Xanthippe corrects: the secret launch date is June"
    );
    assert_eq!(
        export["conversations_started"][0]["title"],
        "Quetzalcoatl launch plan"
    );
    let project_entry = &export["projects"][0];
    assert_eq!(project_entry["project_id"], project.as_str());
    assert_eq!(project_entry["role"], "owner");
    assert_eq!(export["usage"].as_array().map(Vec::len), Some(1), "{export}");
    assert_eq!(
        export["preferences"]["current"]["settings"]["theme"], "dark",
        "{export}"
    );
    assert!(!export["sessions"].as_array().expect("sessions").is_empty());
    assert!(
        export["account_events"][0]["data"]["password_hash"] == "[redacted]",
        "{export}"
    );

    // It has every member the documented schema requires.
    let docs = include_str!("../../docs/privacy.md");
    let schema = docs
        .split("```json")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the schema in docs/privacy.md");
    let schema: Value = serde_json::from_str(schema).expect("the documented schema is JSON");
    for key in schema["required"].as_array().expect("required") {
        let key = key.as_str().expect("a name");
        assert!(!export[key].is_null(), "{key} missing from the export");
    }
    for key in schema["properties"]["profile"]["required"]
        .as_array()
        .expect("required")
    {
        let key = key.as_str().expect("a name");
        assert!(!export["profile"][key].is_null(), "profile.{key} missing");
    }

    // Nothing of the other member.
    let text = export.to_string().to_lowercase();
    for needle in [
        "bartholomew".to_owned(),
        member.email.to_lowercase(),
        member.id.clone(),
    ] {
        assert!(!text.contains(&needle), "{needle} in the export");
    }
}

#[tokio::test]
async fn the_address_and_user_agent_in_event_metadata_are_sealed_and_erased_with_the_person() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let agent = "ZekkaDesk/9.9 (network-details-test)";
    let person = app.user("netperson").await;
    let created = app
        .raw(
            "POST",
            "/api/v1/projects",
            &[
                ("Authorization", &format!("Bearer {}", person.token)),
                ("Content-Type", "application/json"),
                ("User-Agent", agent),
            ],
            Some(json!({"name": "Traced"}).to_string().as_bytes()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let project = created.json()["id"].as_str().expect("id").to_owned();
    let token = created.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // At rest: neither the user agent nor the address in the clear.
    let stored: Value = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT metadata FROM events WHERE aggregate_id = $1 AND sequence = 1",
            &[&project],
        )
        .await
        .expect("the event")
        .get(0);
    assert!(!stored.to_string().contains("ZekkaDesk"), "{stored}");
    assert!(
        stored["client_ip"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("zk:s1:")),
        "{stored}"
    );
    assert_eq!(events_mentioning(&app, "ZekkaDesk").await, 0);

    // Opened for an auditor (and the person), through the audit.
    let audit_path = format!("/api/v1/audit/streams/Project/{project}");
    let seen = app.get_consistent(&audit_path, &admin.token, &token).await.json();
    assert_eq!(seen["items"][0]["user_agent"], agent, "{seen}");
    assert_eq!(seen["items"][0]["client_ip"], "127.0.0.1");

    // Erased with the person; the trail still verifies.
    let erased = app
        .request("DELETE", "/api/v1/users/me", Some(&person.token), None)
        .await;
    assert_eq!(erased.status, 202, "{}", erased.text());
    let after = app
        .request("GET", &audit_path, Some(&admin.token), None)
        .await
        .json();
    assert_eq!(after["items"][0]["user_agent"], "[erased]", "{after}");
    assert_eq!(after["items"][0]["client_ip"], "[erased]");
    let verified = app
        .request("GET", "/api/v1/audit/verify", Some(&admin.token), None)
        .await
        .json();
    assert_eq!(verified["intact"], true, "{verified}");
}

#[tokio::test]
async fn an_erased_address_registers_again_as_a_new_person() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let first = app.user("twice").await;
    let erased = app
        .request("DELETE", "/api/v1/users/me", Some(&first.token), None)
        .await;
    assert_eq!(erased.status, 202, "{}", erased.text());
    app.login(&first.email, crate::support::app::PASSWORD)
        .await
        .assert_problem(401);

    let again = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&json!({"email": first.email, "password": "another long passphrase 7", "display_name": "Twice"})),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text());
    let second_id = again.json()["user_id"].as_str().expect("id").to_owned();
    assert_ne!(second_id, first.id);
    let login = app.login(&first.email, "another long passphrase 7").await;
    assert_eq!(login.status, 200, "{}", login.text());
    assert_eq!(login.json()["user_id"], second_id.as_str());
    // A third registration while the second lives is the usual "exists"
    // answer: nothing new is written.
    let events_before = app.event_count().await;
    let third = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&json!({"email": first.email, "password": "yet another passphrase 9", "display_name": "Thrice"})),
        )
        .await;
    assert_eq!(third.status, 201, "{}", third.text());
    assert_ne!(third.json()["user_id"], second_id.as_str());
    assert_eq!(app.event_count().await, events_before);
    assert!(app.login(&first.email, "yet another passphrase 9").await.status == 401);

    // The audit shows both people: the first erased, the second live.
    let registrations = app
        .request(
            "GET",
            "/api/v1/audit/events?event_type=UserRegistered&limit=200",
            Some(&admin.token),
            None,
        )
        .await
        .json();
    let ids: Vec<&str> = registrations["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["aggregate_id"].as_str())
        .collect();
    assert!(
        ids.contains(&first.id.as_str()) && ids.contains(&second_id.as_str()),
        "{ids:?}"
    );
    let first_again = registrations["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["aggregate_id"] == first.id.as_str())
        .expect("the first registration");
    assert_eq!(
        first_again["payload"]["UserRegistered"]["email"], "[erased]",
        "{first_again}"
    );
}

/// Every key under `prefix` in the test Redis, with its value when it is a string.
fn redis_dump(prefix: &str) -> String {
    let keys = std::process::Command::new("redis-cli")
        .args(["--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .expect("redis-cli");
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    let mut dump = keys.clone();
    for key in keys.lines().filter(|k| !k.is_empty()) {
        let value = std::process::Command::new("redis-cli")
            .args(["--raw", "DUMP", key])
            .output()
            .expect("redis-cli");
        dump.push_str(&String::from_utf8_lossy(&value.stdout));
    }
    dump
}

#[tokio::test]
async fn after_erasure_no_readable_trace_of_the_person_is_left_in_postgresql_or_redis() {
    let prefix = crate::support::app::redis_prefix();
    let app =
        crate::support::spawn_app_with(&[("REDIS_PREFIX", prefix.as_str()), ("TRUST_FORWARDED_FOR", "1")])
            .await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Shared").await;
    let (conversation, _) = app.conversation(&owner, &project, "Shared talk").await;

    let email = format!("quillon.vexmarsh-{}@example.com", uuid::Uuid::now_v7().simple());
    let (ip, agent, name) = ("198.51.100.123", "VexBrowser/4.2", "Quillon Vexmarsh");
    let headers = |token: Option<&str>| {
        let mut headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Forwarded-For".to_owned(), ip.to_owned()),
            ("User-Agent".to_owned(), agent.to_owned()),
        ];
        if let Some(token) = token {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        headers
    };
    let send = |method: &'static str, path: String, token: Option<String>, body: Value| {
        let app = &app;
        let headers = headers(token.as_deref());
        async move {
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.raw(method, &path, &pairs, Some(body.to_string().as_bytes()))
                .await
        }
    };
    let password = "a long and private passphrase";
    let registered = send(
        "POST",
        "/api/v1/auth/register".into(),
        None,
        json!({"email": email, "password": password, "display_name": name}),
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let person_id = registered.json()["user_id"].as_str().expect("id").to_owned();
    // A failed sign-in (lockout counters), then a real one (a session).
    send(
        "POST",
        "/api/v1/auth/login".into(),
        None,
        json!({"email": email, "password": "wrong one"}),
    )
    .await;
    let login = send(
        "POST",
        "/api/v1/auth/login".into(),
        None,
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let token = login.json()["access_token"].as_str().expect("token").to_owned();
    let member = crate::support::app::User {
        id: person_id.clone(),
        token: token.clone(),
        refresh_token: String::new(),
        email: email.clone(),
    };
    app.add_member(&owner, &project, &member, "member").await;
    // Their own work, kept under an idempotency key, and a message to others.
    let own = send(
        "POST",
        "/api/v1/projects".into(),
        Some(token.clone()),
        json!({"name": "Own work"}),
    )
    .await;
    assert_eq!(own.status, 201, "{}", own.text());
    let said = send(
        "POST",
        format!("/api/v1/conversations/{conversation}/messages"),
        Some(token.clone()),
        json!({"content": "vexmarsh private words"}),
    )
    .await;
    assert_eq!(said.status, 201, "{}", said.text());
    send(
        "PATCH",
        "/api/v1/users/me".into(),
        Some(token.clone()),
        json!({"display_name": "Quillon V."}),
    )
    .await;
    send(
        "PUT",
        "/api/v1/preferences".into(),
        Some(token.clone()),
        json!({"language": "fr"}),
    )
    .await;
    send(
        "POST",
        "/api/v1/auth/forgot-password".into(),
        None,
        json!({"email": email}),
    )
    .await;
    app.mail(&email, "password_reset").await;

    let erased = send(
        "DELETE",
        "/api/v1/users/me".into(),
        Some(token.clone()),
        json!({}),
    )
    .await;
    assert_eq!(erased.status, 202, "{}", erased.text());
    let consistency = erased.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    // Wait until every read model applied the erasure.
    let messages = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &owner.token,
            &consistency,
        )
        .await;
    assert_eq!(messages.status, 200);
    app.get_consistent("/api/v1/projects", &owner.token, &consistency)
        .await;
    app.get_consistent("/api/v1/preferences", &owner.token, &consistency)
        .await;

    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", &app.db.url])
        .output()
        .expect("pg_dump");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let dump = String::from_utf8_lossy(&dump.stdout).to_lowercase();
    let redis = redis_dump(&prefix).to_lowercase();
    assert!(
        redis.contains(&prefix.to_lowercase()),
        "the Redis dump is empty: {redis}"
    );
    for trace in [email.as_str(), "quillon", "vexmarsh", "vexbrowser", ip] {
        assert!(!dump.contains(trace), "{trace} is still readable in PostgreSQL");
        assert!(!redis.contains(trace), "{trace} is still readable in Redis");
    }
}

/// The names the retention table in docs/privacy.md gives, row by row, in
/// its last column ("in the export"): backticked export members, or a
/// reason it is not exported.
fn export_column_of_the_retention_table() -> Vec<(String, Vec<String>)> {
    let docs = include_str!("../../docs/privacy.md");
    let table = docs
        .split("| where | holds | kept | removed by | in the export |")
        .nth(1)
        .expect("the retention table with its export column");
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let last = cells.last().expect("cells").trim_end_matches('|').trim();
            let names = last.split('`').skip(1).step_by(2).map(str::to_owned).collect();
            (line.to_owned(), names)
        })
        .collect()
}

#[tokio::test]
async fn the_export_holds_every_kind_of_personal_data_the_retention_table_names_and_no_one_elses() {
    let app = crate::support::spawn_app_with(&[
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "yes"),
        ("WEBHOOK_TIMEOUT_MS", "200"),
    ])
    .await;
    let me = app.user("Ottoline").await;
    let other = app.user("Peregrine").await;
    // A write with an Idempotency-Key: a remembered answer.
    let created = app
        .raw(
            "POST",
            "/api/v1/projects",
            &[
                ("Authorization", &format!("Bearer {}", me.token)),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "export-completeness"),
            ],
            Some(json!({"name": "Everything of mine"}).to_string().as_bytes()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let project = created.json()["id"].as_str().expect("id").to_owned();
    // A webhook whose receiver is not there: messages naming me wait.
    let hook = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/webhooks"),
            Some(&me.token),
            Some(&json!({"url": "http://localhost:9/hook", "events": ["message:received"], "secret": "0123456789abcdef"})),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text());
    // A conversation and a message of mine, tokens I spent, my preferences.
    let (conversation, _) = app.conversation(&me, &project, "Mine").await;
    app.send_message(&me, &conversation, "written by me").await;
    let agent = app.agent(&me, &project, "Spender").await;
    let usage = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/usage"),
            Some(&me.token),
            Some(&json!({"model": "gpt-4", "input_tokens": 10, "output_tokens": 5})),
        )
        .await;
    assert_eq!(usage.status, 201, "{}", usage.text());
    let preferences = app
        .request(
            "PUT",
            "/api/v1/preferences",
            Some(&me.token),
            Some(&json!({"theme": "dark"})),
        )
        .await;
    assert_eq!(preferences.status, 200, "{}", preferences.text());
    // A file of mine in the project.
    let uploaded = app
        .raw(
            "POST",
            &format!("/api/v1/projects/{project}/sources?name=mine.txt"),
            &[
                ("Authorization", &format!("Bearer {}", me.token)),
                ("Content-Type", "text/plain"),
            ],
            Some(b"my notes"),
        )
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    // An invitation I send to the other's address, and one they send to mine.
    let sent = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/invitations"),
            Some(&me.token),
            Some(&json!({"email": other.email, "role": "member"})),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text());
    let (theirs, _) = app.project(&other, "Their project").await;
    let received = app
        .request(
            "POST",
            &format!("/api/v1/projects/{theirs}/invitations"),
            Some(&other.token),
            Some(&json!({"email": me.email, "role": "viewer"})),
        )
        .await;
    assert_eq!(received.status, 201, "{}", received.text());
    let token = received.json()["consistency_token"].as_str().map(str::to_owned);

    let mut export = Value::Null;
    for _ in 0..200 {
        let answer = match &token {
            Some(token) => {
                app.get_consistent("/api/v1/users/me/export", &me.token, token)
                    .await
            }
            None => {
                app.request("GET", "/api/v1/users/me/export", Some(&me.token), None)
                    .await
            }
        };
        assert_eq!(answer.status, 200, "{}", answer.text());
        export = answer.json();
        if export["pending_webhook_messages"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }

    // Every member the retention table names holds my data.
    let rows = export_column_of_the_retention_table();
    assert!(rows.len() >= 10, "{rows:?}");
    for (row, names) in &rows {
        if names.is_empty() {
            assert!(row.contains("— "), "a row neither exported nor saying why: {row}");
        }
        for name in names {
            let held = &export[name.as_str()];
            let filled = match held {
                Value::Array(items) => !items.is_empty(),
                Value::Object(_) => true,
                _ => false,
            };
            assert!(filled, "`{name}` (for {row}) is empty in the export: {export}");
        }
    }
    assert_eq!(
        export["invitations_received"][0]["email"],
        me.email.to_lowercase().as_str()
    );
    assert_eq!(export["invitations_received"][0]["project_id"], theirs.as_str());
    assert_eq!(export["invitations_sent"][0]["project_id"], project.as_str());
    assert_eq!(export["remembered_requests"][0]["key"], "export-completeness");
    assert_eq!(export["sources_uploaded"][0]["name"], "mine.txt");
    assert!(
        export["mail"]
            .as_array()
            .expect("mail")
            .iter()
            .all(|m| m.get("body").is_none())
    );

    // Nothing of the other person: not the address I invited, not their name.
    let text = export.to_string().to_lowercase();
    for needle in [other.email.to_lowercase(), "peregrine".to_owned()] {
        assert!(!text.contains(&needle), "{needle} in my export: {export}");
    }
}
