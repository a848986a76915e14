//! Security review 2026-12-04, F1 and F15: text the write side accepts can
//! never stop a projection, control characters get a 4xx naming the field
//! (never a 500), and an operator has a way out of a poison event.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::spawn_app;

/// Every projection's status, as an admin reads it.
async fn projections(app: &TestApp, admin: &str) -> Vec<Value> {
    let listed = app.request("GET", "/api/v1/projections", Some(admin), None).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    listed.json().as_array().cloned().unwrap_or_default()
}

/// The projection named `name`, polled until `until` holds (10 s at most).
async fn projection_when(app: &TestApp, admin: &str, name: &str, until: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..500 {
        last = projections(app, admin)
            .await
            .into_iter()
            .find(|p| p["name"] == name)
            .unwrap_or_default();
        if until(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("projection {name} never reached the state waited for: {last}");
}

#[tokio::test]
async fn a_message_holding_nul_is_refused_and_every_projection_keeps_running() {
    let app = spawn_app().await;
    let admin = app.admin("operator").await;
    let author = app.user("author").await;
    let (project, _) = app.project(&author, "Poison").await;
    let (conversation, _) = app.conversation(&author, &project, "Chat").await;
    let before = app.event_count().await;

    let refused = app
        .request(
            "POST",
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&author.token),
            Some(&json!({"content": "a\u{0}b"})),
        )
        .await;
    let problem = refused.assert_problem(422);
    assert_eq!(problem["errors"][0]["field"], "content", "{problem}");
    assert_eq!(app.event_count().await, before, "nothing was appended");

    // Another tenant writes and reads its own write at once.
    let other = app.user("other").await;
    let (their_project, _) = app.project(&other, "Elsewhere").await;
    let (their_conversation, _) = app.conversation(&other, &their_project, "Theirs").await;
    let sent = app
        .send_message(&other, &their_conversation, "hello\tworld\r\n")
        .await;
    let read = app
        .get_consistent(
            &format!("/api/v1/conversations/{their_conversation}/messages"),
            &other.token,
            sent["consistency_token"].as_str().expect("token"),
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json()["items"][0]["content"], "hello\tworld\r\n");
    for projection in projections(&app, &admin.token).await {
        assert_eq!(projection["status"], "running", "{projection}");
    }
}

#[tokio::test]
async fn control_characters_in_any_text_field_or_parameter_are_a_4xx_never_a_500() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Target").await;
    let agent = app.agent(&owner, &project, "Builder").await;
    let task = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/tasks"),
            Some(&owner.token),
            Some(&json!({"title": "Parse"})),
        )
        .await;
    assert_eq!(task.status, 201, "{}", task.text());
    let task = task.json()["task_id"].as_str().expect("task id").to_owned();
    let conflict = app
        .request(
            "POST",
            "/api/v1/conflicts",
            Some(&owner.token),
            Some(
                &json!({"project_id": project, "kind": "code", "description": "clash", "agent_ids": [agent]}),
            ),
        )
        .await;
    assert_eq!(conflict.status, 201, "{}", conflict.text());
    let conflict = conflict.json()["id"].as_str().expect("conflict id").to_owned();
    let before = app.event_count().await;

    let nul = "a\u{0}b";
    let bell = "a\u{7}b";
    let c1 = "a\u{85}b";
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "POST",
            "/api/v1/auth/login".into(),
            Some(json!({"email": "a\u{0}@example.com", "password": "whatever it is"})),
            "email",
        ),
        (
            "POST",
            "/api/v1/auth/forgot-password".into(),
            Some(json!({"email": "a\u{0}@example.com"})),
            "email",
        ),
        (
            "POST",
            "/api/v1/auth/register".into(),
            Some(
                json!({"email": "new@example.com", "password": "correct horse battery", "display_name": nul}),
            ),
            "display_name",
        ),
        (
            "POST",
            "/api/v1/projects".into(),
            Some(json!({"name": "ok", "description": nul})),
            "description",
        ),
        (
            "PUT",
            format!("/api/v1/projects/{project}"),
            Some(json!({"description": bell})),
            "description",
        ),
        (
            "PUT",
            format!("/api/v1/projects/{project}"),
            Some(json!({"name": "\u{202e}gnp.exe"})),
            "name",
        ),
        (
            "POST",
            "/api/v1/conflicts".into(),
            Some(json!({"project_id": project, "kind": "code", "description": nul, "agent_ids": [agent]})),
            "description",
        ),
        (
            "POST",
            format!("/api/v1/conflicts/{conflict}/escalate"),
            Some(json!({"reason": c1})),
            "reason",
        ),
        (
            "POST",
            format!("/api/v1/agents/{agent}/status"),
            Some(json!({"status": "working", "detail": nul})),
            "detail",
        ),
        (
            "POST",
            format!("/api/v1/agents/{agent}/tasks"),
            Some(json!({"title": "t", "description": nul})),
            "description",
        ),
        (
            "POST",
            format!("/api/v1/agents/{agent}/tasks/{task}/complete"),
            Some(json!({"outcome": "succeeded", "detail": nul})),
            "detail",
        ),
        (
            "POST",
            format!("/api/v1/projects/{project}/locks"),
            Some(json!({"file_path": "src/\u{0}.rs", "agent_id": agent})),
            "file_path",
        ),
        (
            "POST",
            "/api/v1/conversations".into(),
            Some(json!({"project_id": project, "title": "\u{200b}\u{200b}"})),
            "title",
        ),
        (
            "GET",
            "/api/v1/audit/events?aggregate_type=a%00b".into(),
            None,
            "aggregate_type",
        ),
        ("GET", "/api/v1/audit/events?actor=%00".into(), None, "actor"),
        (
            "GET",
            "/api/v1/audit/events?event_type=x%C2%85".into(),
            None,
            "event_type",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = app
            .request(method, &path, Some(&owner.token), body.as_ref())
            .await;
        let problem = answer.assert_problem(422);
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(fields.contains(&field), "{method} {path}: {problem}");
    }
    for path in [
        "/api/v1/audit/streams/x%00y/z",
        "/api/v1/projections/x%00y/rebuild",
    ] {
        let method = if path.ends_with("rebuild") { "POST" } else { "GET" };
        app.request(method, path, Some(&owner.token), None)
            .await
            .assert_problem(400);
    }
    assert_eq!(app.event_count().await, before, "nothing was appended");
}

#[tokio::test]
async fn an_operator_skips_a_poison_event_and_the_audit_and_every_rebuild_tell_it() {
    let app = spawn_app().await;
    let admin = app.admin("operator").await;
    let person = app.user("person").await;
    let (project, _) = app.project(&person, "Stuck").await;
    let (conversation, _) = app.conversation(&person, &project, "Chat").await;
    let poison = app.append_poison("Conversation").await;
    let failed = projection_when(&app, &admin.token, "conversations", |p| p["status"] == "failed").await;
    assert_eq!(failed["error"]["position"], poison, "{failed}");

    // Messages sent meanwhile wait behind the poison event.
    let sent = app.send_message(&person, &conversation, "after the poison").await;

    // Only a system admin may skip, with a reason; refusals append nothing.
    let path = "/api/v1/projections/conversations/skips";
    let before = app.event_count().await;
    for (who, name, position, reason, status) in [
        (&person, "conversations", poison, "mine", 403),
        (&admin, "conversations", poison, "  ", 422),
        (&admin, "conversations", i64::MAX, "no such event", 422),
        (&admin, "nothing", poison, "no such projection", 404),
    ] {
        app.request(
            "POST",
            &format!("/api/v1/projections/{name}/skips"),
            Some(&who.token),
            Some(&json!({"position": position, "reason": reason})),
        )
        .await
        .assert_problem(status);
    }
    assert_eq!(app.event_count().await, before);

    let skipped = app
        .request(
            "POST",
            path,
            Some(&admin.token),
            Some(&json!({"position": poison, "reason": "a garbled event restored from a bad backup"})),
        )
        .await;
    assert_eq!(skipped.status, 201, "{}", skipped.text());
    let skip = skipped.json();
    assert_eq!(skip["event_type"], "Garbled");
    assert_eq!(skip["skipped_by"], format!("user:{}", admin.id));
    app.request(
        "POST",
        path,
        Some(&admin.token),
        Some(&json!({"position": poison, "reason": "again"})),
    )
    .await
    .assert_problem(409);

    // The projection moves past it: the message sent meanwhile is read.
    let read = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &person.token,
            sent["consistency_token"].as_str().expect("token"),
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json()["items"][0]["content"], "after the poison");
    let running = projection_when(&app, &admin.token, "conversations", |p| p["status"] == "running").await;
    assert_eq!(running["skipped"][0]["position"], poison, "{running}");
    assert_eq!(
        running["skipped"][0]["reason"],
        "a garbled event restored from a bad backup"
    );

    // The audit history says who skipped what and why.
    let audit = app
        .request(
            "GET",
            "/api/v1/audit/events?aggregate_type=Projection&aggregate_id=conversations",
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text());
    let events = audit.json()["items"].clone();
    assert_eq!(events[0]["event_type"], "ProjectionEventSkipped", "{events}");
    assert_eq!(events[0]["payload"]["ProjectionEventSkipped"]["position"], poison);
    assert_eq!(events[0]["actor"], admin.id.as_str(), "{events}");

    // A rebuild passes over it again, and says so.
    let requested = app
        .request(
            "POST",
            "/api/v1/projections/conversations/rebuild",
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(requested.status, 202, "{}", requested.text());
    let rebuilt = projection_when(&app, &admin.token, "conversations", |p| {
        p["last_rebuild"]["status"] == "completed" || p["last_rebuild"]["status"] == "failed"
    })
    .await;
    assert_eq!(rebuilt["last_rebuild"]["status"], "completed", "{rebuilt}");
    assert_eq!(
        rebuilt["last_rebuild"]["skipped"][0]["position"], poison,
        "{rebuilt}"
    );
    assert_eq!(rebuilt["status"], "running", "{rebuilt}");
}

/// Security review F2: a forged consistency token is refused at once, and
/// waits for a real one that is not applied yet hold no pooled connection
/// (another tenant's reads go on) and are capped per principal.
#[tokio::test]
async fn consistency_waits_hold_no_connection_are_capped_and_forged_tokens_are_refused() {
    let app =
        crate::support::spawn_app_with(&[("DATABASE_POOL_SIZE", "2"), ("CONSISTENCY_WAIT_MS", "8000")]).await;
    let admin = app.admin("operator").await;
    let attacker = app.user("attacker").await;
    let victim = app.user("victim").await;
    let (victim_project, _) = app.project(&victim, "Victim's").await;

    // A token far ahead of anything written: 400 at once, no wait.
    app.get_consistent("/api/v1/projects", &attacker.token, "v1.99999999999.99999999")
        .await
        .assert_problem(400);

    // A real token the conversations model cannot reach (it is stuck).
    let (project, _) = app.project(&attacker, "Attacker's").await;
    let (conversation, _) = app.conversation(&attacker, &project, "Chat").await;
    app.append_poison("Conversation").await;
    projection_when(&app, &admin.token, "conversations", |p| p["status"] == "failed").await;
    let sent = app.send_message(&attacker, &conversation, "never read").await;
    let token = sent["consistency_token"].as_str().expect("token").to_owned();

    let path = format!("/api/v1/conversations/{conversation}/messages");
    let client: crate::support::app::Client = *app;
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let (path, bearer, token) = (path.clone(), attacker.token.clone(), token.clone());
            tokio::spawn(async move { client.get_consistent(&path, &bearer, &token).await.status })
        })
        .collect();
    // Every waiter has asked by the time the refused ones are back.
    let mut refused = 0;
    for _ in 0..1000 {
        refused = waiters.iter().filter(|w| w.is_finished()).count();
        if refused >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(refused, 2, "beyond the cap, waits are refused at once");

    // The victim reads (a pool of two connections) while eight waits go on.
    let read = app
        .request(
            "GET",
            &format!("/api/v1/projects/{victim_project}"),
            Some(&victim.token),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    let still_waiting = waiters.iter().filter(|w| !w.is_finished()).count();
    assert_eq!(
        still_waiting, 8,
        "the victim was answered while the attacker's reads still waited"
    );

    let mut statuses = Vec::new();
    for waiter in waiters {
        statuses.push(waiter.await.expect("waiter"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [429, 429, 503, 503, 503, 503, 503, 503, 503, 503]);
}

/// Security review F4: behind one trusted proxy (`TRUST_FORWARDED_FOR=1`),
/// the client is the address the proxy appended, whatever the client put
/// before it: limits count against it, and the audit records it.
#[tokio::test]
async fn a_forged_first_forwarded_hop_neither_escapes_limits_nor_reaches_the_audit() {
    let app = crate::support::spawn_app_with(&[
        ("TRUST_FORWARDED_FOR", "1"),
        ("RATE_LIMIT_LOGIN_FAILURES", "3/900"),
    ])
    .await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let forwarded = format!("198.51.100.{n}, 203.0.113.9");
        let body =
            json!({"email": format!("nobody-{n}@example.com"), "password": "a wrong password"}).to_string();
        let answer = app
            .raw(
                "POST",
                "/api/v1/auth/login",
                &[
                    ("Content-Type", "application/json"),
                    ("X-Forwarded-For", &forwarded),
                ],
                Some(body.as_bytes()),
            )
            .await;
        statuses.push(answer.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);

    let user = app.user("forwarded").await;
    let body = json!({"name": "Behind a proxy"}).to_string();
    let created = app
        .raw(
            "POST",
            "/api/v1/projects",
            &[
                ("Authorization", &format!("Bearer {}", user.token)),
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", "198.51.100.77, 203.0.113.10"),
            ],
            Some(body.as_bytes()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let project = created.json()["id"].as_str().expect("id").to_owned();
    let token = created.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    // Sealed at rest (issue 26); the person reads it opened in the audit.
    let audit = app
        .get_consistent(
            &format!("/api/v1/audit/streams/Project/{project}"),
            &user.token,
            &token,
        )
        .await
        .json();
    let recorded = audit["items"][0]["client_ip"].as_str().map(str::to_owned);
    assert_eq!(recorded.as_deref(), Some("203.0.113.10"));
}

/// `zekka projections skip` is the operator's way out from the command
/// line: the same event in the audit, with `cli:<login>` as who decided.
#[tokio::test]
async fn an_operator_skips_a_poison_event_from_the_command_line() {
    let app = spawn_app().await;
    let admin = app.admin("operator").await;
    let poison = app.append_poison("Conversation").await;
    projection_when(&app, &admin.token, "conversations", |p| p["status"] == "failed").await;
    let zekka = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zekka"))
            .args(args)
            .env("DATABASE_URL", &app.db.url)
            .env("REDIS_URL", crate::support::app::redis_url())
            .env("USER", "night-shift")
            .output()
            .expect("run zekka")
    };
    let position = poison.to_string();
    let missing_reason = zekka(&[
        "projections",
        "skip",
        "conversations",
        "--position",
        &position,
        "--reason",
        " ",
    ]);
    assert!(!missing_reason.status.success(), "a skip needs a reason");
    let unknown = zekka(&[
        "projections",
        "skip",
        "nothing",
        "--position",
        &position,
        "--reason",
        "x",
    ]);
    assert!(!unknown.status.success(), "no such projection");
    let skipped = zekka(&[
        "projections",
        "skip",
        "conversations",
        "--position",
        &position,
        "--reason",
        "garbled by a bad restore",
    ]);
    assert!(
        skipped.status.success(),
        "{}",
        String::from_utf8_lossy(&skipped.stderr)
    );
    let running = projection_when(&app, &admin.token, "conversations", |p| p["status"] == "running").await;
    assert_eq!(running["skipped"][0]["position"], poison, "{running}");
    assert_eq!(
        running["skipped"][0]["skipped_by"], "cli:night-shift",
        "{running}"
    );
}
