//! Conversations and messages, end to end.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_thousand_messages_page_back_exactly_once_in_order_while_more_arrive() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60")]).await;
    let owner = app.user("chatty").await;
    let (project, _) = app.project(&owner, "Chat").await;
    let (conversation, _) = app.conversation(&owner, &project, "Planning").await;

    // Three writers at once: the server re-decides on conflicts, nobody sees a 409.
    let writers = (0..3).map(|writer| {
        let (app, owner, conversation) = (&app, &owner, &conversation);
        async move {
            let mut last = String::new();
            for n in 0..334 {
                let sent = app
                    .send_message(owner, conversation, &format!("w{writer}-{n}"))
                    .await;
                last = sent["consistency_token"].as_str().expect("token").to_owned();
            }
            last
        }
    });
    let tokens = futures_util::future::join_all(writers).await;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    for token in &tokens {
        assert_eq!(
            app.get_consistent(&format!("{path}?limit=1"), &owner.token, token)
                .await
                .status,
            200
        );
    }

    // Keep sending while reading pages.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let late_writer = {
        let (app, owner, conversation) = (&app, &owner, &conversation);
        async move {
            let mut n = 0;
            while !*stopped.borrow_and_update() {
                app.send_message(owner, conversation, &format!("late-{n}")).await;
                n += 1;
            }
            n
        }
    };
    let reader = async {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}?limit=50&cursor={c}"),
                None => format!("{path}?limit=50"),
            };
            let page = app.request("GET", &page_path, Some(&owner.token), None).await;
            assert_eq!(page.status, 200, "{}", page.text());
            let page = page.json();
            let items = page["items"].as_array().expect("items").clone();
            assert!(items.len() <= 50);
            seen.extend(items);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let _ = stop.send(true);
        seen
    };
    let (seen, late) = tokio::join!(reader, late_writer);

    let numbers: Vec<i64> = seen
        .iter()
        .map(|m| m["number"].as_i64().expect("number"))
        .collect();
    let expected: Vec<i64> = (1..=i64::try_from(numbers.len()).expect("small")).collect();
    assert_eq!(numbers, expected, "every message once, in order, no gaps");
    let contents: Vec<&str> = seen
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    let unique: HashSet<&&str> = contents.iter().collect();
    assert_eq!(unique.len(), contents.len(), "no message twice");
    for writer in 0..3 {
        let mine: Vec<&str> = contents
            .iter()
            .copied()
            .filter(|c| c.starts_with(&format!("w{writer}-")))
            .collect();
        let in_order: Vec<String> = (0..334).map(|n| format!("w{writer}-{n}")).collect();
        assert_eq!(
            mine, in_order,
            "writer {writer}'s messages, each once, in send order"
        );
    }
    assert!(seen.len() >= 1002, "{} seen, {late} sent late", seen.len());
}

#[tokio::test]
async fn only_the_author_edits_an_admin_deletes_and_deleted_content_is_gone_everywhere() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let author = app.user("author").await;
    let (project, _) = app.project(&owner, "Moderated").await;
    app.request(
        "POST",
        &format!("/api/v1/projects/{project}/members"),
        Some(&owner.token),
        Some(&json!({"user_id": author.id, "role": "member"})),
    )
    .await;
    let (conversation, _) = app.conversation(&owner, &project, "Planning").await;
    let secret = "the launch code is 0000";
    let message = app.send_message(&author, &conversation, secret).await;
    let message_id = message["id"].as_str().expect("id");
    let path = format!("/api/v1/conversations/{conversation}/messages/{message_id}");

    app.request(
        "PUT",
        &path,
        Some(&owner.token),
        Some(&json!({"content": "owned"})),
    )
    .await
    .assert_problem(403);
    let edited = app
        .request(
            "PUT",
            &path,
            Some(&author.token),
            Some(&json!({"content": "the launch code is secret"})),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text());

    let deleted = app.request("DELETE", &path, Some(&owner.token), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let token = deleted.header("x-consistency-token").expect("token").to_owned();
    app.request(
        "PUT",
        &path,
        Some(&author.token),
        Some(&json!({"content": "back"})),
    )
    .await
    .assert_problem(409);

    let listed = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &author.token,
            &token,
        )
        .await
        .json();
    assert_eq!(listed["items"][0]["deleted"], true);
    assert_eq!(listed["items"][0]["content"], Value::Null);
    let leftovers: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM rm_messages WHERE content LIKE '%launch code%')
                  + (SELECT count(*) FROM rm_conversations WHERE title LIKE '%launch code%')",
            &[],
        )
        .await
        .expect("search read models")
        .get(0);
    assert_eq!(leftovers, 0, "no read model keeps deleted content");
    let events: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'MessageDeleted'",
            &[],
        )
        .await
        .expect("events")
        .get(0);
    assert_eq!(events, 1, "the event remains");
}

#[tokio::test]
async fn an_archived_conversation_refuses_new_messages_and_counts_show_in_stats() {
    let app = spawn_app().await;
    let owner = app.user("archivist").await;
    let (project, _) = app.project(&owner, "Quiet").await;
    let (conversation, _) = app.conversation(&owner, &project, "Planning").await;
    app.send_message(&owner, &conversation, "first").await;
    app.send_message(&owner, &conversation, "second").await;
    let archived = app
        .request(
            "DELETE",
            &format!("/api/v1/conversations/{conversation}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(archived.status, 204, "{}", archived.text());
    let token = archived.header("x-consistency-token").expect("token").to_owned();
    app.request(
        "POST",
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(&owner.token),
        Some(&json!({"content": "too late"})),
    )
    .await
    .assert_problem(409);

    let shown = app
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(shown["status"], "archived");
    assert_eq!(shown["message_count"], 2);
    let stats = app
        .get_consistent(&format!("/api/v1/projects/{project}/stats"), &owner.token, &token)
        .await;
    assert_eq!(stats.status, 200, "{}", stats.text());
    let stats = stats.json();
    assert_eq!(stats["conversations"], 1);
    assert_eq!(stats["messages"], 2);
    assert_eq!(stats["members"], 1);
    assert_eq!(stats["stage"], "requirements");
    assert_eq!(stats["cost_usd"], "0.000000");
    let listed = app
        .get_consistent(
            &format!("/api/v1/conversations?project_id={project}"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(listed["items"][0]["id"], conversation.as_str());
}

#[tokio::test]
async fn outsiders_and_viewers_cannot_reach_or_write_a_conversation() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let viewer = app.user("viewer").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Closed").await;
    app.request(
        "POST",
        &format!("/api/v1/projects/{project}/members"),
        Some(&owner.token),
        Some(&json!({"user_id": viewer.id, "role": "viewer"})),
    )
    .await;
    let (conversation, token) = app.conversation(&owner, &project, "Planning").await;
    let base = format!("/api/v1/conversations/{conversation}");
    for path in [
        base.clone(),
        format!("{base}/messages"),
        format!("/api/v1/projects/{project}/stats"),
    ] {
        app.get_consistent(&path, &stranger.token, &token)
            .await
            .assert_problem(404);
        assert_eq!(app.get_consistent(&path, &viewer.token, &token).await.status, 200);
    }
    let listed = app
        .get_consistent("/api/v1/conversations", &stranger.token, &token)
        .await
        .json();
    assert_eq!(listed["items"], json!([]));
    let message = json!({"content": "hi"});
    app.request(
        "POST",
        &format!("{base}/messages"),
        Some(&stranger.token),
        Some(&message),
    )
    .await
    .assert_problem(404);
    app.request(
        "POST",
        &format!("{base}/messages"),
        Some(&viewer.token),
        Some(&message),
    )
    .await
    .assert_problem(403);
    app.request(
        "POST",
        "/api/v1/conversations",
        Some(&stranger.token),
        Some(&json!({"project_id": project, "title": "Mine"})),
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn bad_input_on_every_conversation_route_is_a_4xx_problem_and_appends_nothing() {
    let app = spawn_app().await;
    let owner = app.user("strict").await;
    let (project, _) = app.project(&owner, "Strict").await;
    let (conversation, _) = app.conversation(&owner, &project, "Planning").await;
    let message = app.send_message(&owner, &conversation, "hello").await;
    let message_id = message["id"].as_str().expect("id");
    let bearer = format!("Bearer {}", owner.token);
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let before = app.event_count().await;
    let base = format!("/api/v1/conversations/{conversation}");
    let big = json!({"content": "x".repeat(65_537)}).to_string();
    let missing = uuid::Uuid::now_v7();
    let cases: Vec<(&str, String, String, u16)> = vec![
        ("POST", "/api/v1/conversations".into(), "{".into(), 400),
        (
            "POST",
            "/api/v1/conversations".into(),
            json!({"title": "x"}).to_string(),
            400,
        ),
        (
            "POST",
            "/api/v1/conversations".into(),
            json!({"project_id": "nope", "title": "x"}).to_string(),
            400,
        ),
        (
            "POST",
            "/api/v1/conversations".into(),
            json!({"project_id": project, "title": " "}).to_string(),
            422,
        ),
        (
            "POST",
            "/api/v1/conversations".into(),
            json!({"project_id": missing, "title": "x"}).to_string(),
            404,
        ),
        (
            "POST",
            format!("{base}/messages"),
            json!({"content": ""}).to_string(),
            422,
        ),
        ("POST", format!("{base}/messages"), big, 422),
        (
            "POST",
            format!("{base}/messages"),
            json!({"content": "x", "role": "robot"}).to_string(),
            422,
        ),
        (
            "POST",
            format!("{base}/messages"),
            json!({"content": "x", "role": "agent"}).to_string(),
            422,
        ),
        (
            "POST",
            format!("{base}/messages"),
            json!({"content": "x", "agent_id": "nope"}).to_string(),
            400,
        ),
        (
            "POST",
            format!("{base}/messages"),
            json!({"text": "x"}).to_string(),
            400,
        ),
        (
            "POST",
            format!("/api/v1/conversations/{missing}/messages"),
            json!({"content": "x"}).to_string(),
            404,
        ),
        (
            "POST",
            "/api/v1/conversations/not-a-uuid/messages".into(),
            json!({"content": "x"}).to_string(),
            400,
        ),
        (
            "PUT",
            format!("{base}/messages/{message_id}"),
            json!({"content": ""}).to_string(),
            422,
        ),
        (
            "PUT",
            format!("{base}/messages/{missing}"),
            json!({"content": "x"}).to_string(),
            404,
        ),
        (
            "PUT",
            format!("{base}/messages/nope"),
            json!({"content": "x"}).to_string(),
            400,
        ),
        ("DELETE", format!("{base}/messages/{missing}"), String::new(), 404),
        ("DELETE", "/api/v1/conversations/nope".into(), String::new(), 400),
        ("GET", format!("{base}/messages?cursor=abc"), String::new(), 400),
        ("GET", format!("{base}/messages?limit=-1"), String::new(), 422),
        (
            "GET",
            "/api/v1/conversations?project_id=nope".into(),
            String::new(),
            400,
        ),
    ];
    for (method, path, body, status) in cases {
        let body = (!body.is_empty()).then(|| body.into_bytes());
        let response = app.raw(method, &path, &headers, body.as_deref()).await;
        assert_eq!(response.status, status, "{method} {path}: {}", response.text());
        response.assert_problem(status);
    }
    assert_eq!(app.event_count().await, before, "bad input appends nothing");
}

#[tokio::test]
async fn the_stored_snapshot_equals_a_full_replay() {
    use cqrs_es::Aggregate;
    use zekka_domain::conversation::{Conversation, ConversationEvent};

    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60")]).await;
    let owner = app.user("snapshotter").await;
    let (project, _) = app.project(&owner, "Snapshots").await;
    let (conversation, _) = app.conversation(&owner, &project, "Planning").await;
    for n in 0..250 {
        app.send_message(&owner, &conversation, &format!("m{n}")).await;
    }
    let client = app.db.connect().await;
    let snapshot = client
        .query_one(
            "SELECT last_sequence, payload FROM snapshots WHERE aggregate_type = 'Conversation' AND aggregate_id = $1",
            &[&conversation],
        )
        .await
        .expect("a snapshot was taken");
    let last_sequence: i64 = snapshot.get(0);
    let stored: Conversation = serde_json::from_value(snapshot.get(1)).expect("snapshot deserialises");
    assert!(
        last_sequence >= 200,
        "snapshots every 100 events: {last_sequence}"
    );

    let mut replayed = Conversation::default();
    for row in client
        .query(
            "SELECT payload FROM events WHERE aggregate_type = 'Conversation' AND aggregate_id = $1
               AND sequence <= $2 ORDER BY sequence",
            &[&conversation, &last_sequence],
        )
        .await
        .expect("events")
    {
        let event: ConversationEvent = serde_json::from_value(row.get(0)).expect("event");
        replayed.apply(event);
    }
    assert_eq!(stored, replayed);
    assert_eq!(stored.version, u64::try_from(last_sequence).expect("positive"));
}
