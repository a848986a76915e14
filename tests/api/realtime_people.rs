//! Real time for people (issue 24): every socket hears its person's own
//! channel unsubscribed, project subscribers hear conversations and agents
//! created, typing passes between query-api processes through Redis, and a
//! project API key with `read` opens a socket for its project only.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use zekka::Services;

use crate::realtime::{Socket, connect, next_of, subscribe};
use crate::support::app::{Client, redis_prefix, start_service, test_config_with, token_in};
use crate::support::{TestDatabase, spawn_app};

/// The next message within `wait` whose type is one of `kinds`, if any.
async fn any_of(socket: &mut Socket, kinds: &[&str], wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next()).await.ok()??;
        if let Ok(Message::Text(text)) = frame {
            let message: Value = serde_json::from_str(&text).ok()?;
            if kinds.iter().any(|k| message["type"] == *k) {
                return Some(message);
            }
        }
    }
}

#[tokio::test]
async fn a_persons_own_channel_hears_new_projects_memberships_and_invitations() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let me = app.verified_user("me").await;
    let stranger = app.user("stranger").await;
    let mut mine = connect(app.addr, &me, None).await;
    let mut theirs = connect(app.addr, &stranger, None).await;

    let (created, _) = app.project(&me, "Mine").await;
    let heard = next_of(&mut mine, "project:created").await;
    assert_eq!(heard["data"]["project_id"], created.as_str(), "{heard}");

    let (project, _) = app.project(&owner, "Theirs").await;
    app.add_member(&owner, &project, &me, "member").await;
    let added = next_of(&mut mine, "project:memberAdded").await;
    assert_eq!(added["data"]["project_id"], project.as_str(), "{added}");
    assert_eq!(added["data"]["role"], "member");

    let (other, _) = app.project(&owner, "Invites").await;
    let sent = app
        .request(
            "POST",
            &format!("/api/v1/projects/{other}/invitations"),
            Some(&owner.token),
            Some(&json!({"email": me.email, "role": "viewer"})),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text());
    let invited = next_of(&mut mine, "invitation:received").await;
    assert_eq!(invited["data"]["project_id"], other.as_str(), "{invited}");
    assert_eq!(invited["data"]["project_name"], "Invites");
    assert_eq!(invited["data"]["invitation_id"], sent.json()["id"]);
    let text = invited.to_string();
    let token = token_in(&app.mail(&me.email, "invitation").await);
    let secret = token.rsplit('_').next().expect("secret");
    assert!(!text.contains("token_hash") && !text.contains("email_index") && !text.contains(secret));

    let removed = app
        .request(
            "DELETE",
            &format!("/api/v1/projects/{project}/members/{}", me.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text());
    let gone = next_of(&mut mine, "project:memberRemoved").await;
    assert_eq!(gone["data"]["project_id"], project.as_str());

    // Nobody else hears any of it.
    let leaked = any_of(
        &mut theirs,
        &[
            "project:created",
            "project:memberAdded",
            "project:memberRemoved",
            "invitation:received",
        ],
        Duration::from_millis(700),
    )
    .await;
    assert!(leaked.is_none(), "{leaked:?}");
}

#[tokio::test]
async fn project_subscribers_hear_conversations_and_agents_created() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, token) = app.project(&owner, "Busy").await;
    app.get_consistent(&format!("/api/v1/projects/{project}"), &owner.token, &token)
        .await;
    let mut socket = connect(app.addr, &owner, None).await;
    subscribe(&mut socket, json!({"type": "subscribe", "project_id": project})).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (conversation, _) = app.conversation(&owner, &project, "Planning").await;
    let started = next_of(&mut socket, "conversation:created").await;
    assert_eq!(started["data"]["conversation_id"], conversation.as_str());
    assert_eq!(started["data"]["title"], "Planning");
    let agent = app.agent(&owner, &project, "Builder").await;
    let registered = next_of(&mut socket, "agent:registered").await;
    assert_eq!(registered["data"]["agent_id"], agent.as_str());
    assert_eq!(registered["data"]["project_id"], project.as_str());
}

#[tokio::test]
async fn typing_on_one_query_api_process_reaches_a_socket_on_the_other() {
    let db = TestDatabase::migrated().await;
    let prefix = redis_prefix();
    let config = || test_config_with(&db.url, &[("REDIS_PREFIX", prefix.as_str())]);
    let (writes, _w) = start_service(config(), Services::CommandApi).await;
    let (_projectors, _p) = start_service(config(), Services::Projectors).await;
    let (first, _q1) = start_service(config(), Services::QueryApi).await;
    let (second, _q2) = start_service(config(), Services::QueryApi).await;
    let app = Client { addr: writes };
    let writer = app.user("Wanda").await;
    let reader = app.user("Reed").await;
    let (project, _) = app.project(&writer, "Chat").await;
    app.add_member(&writer, &project, &reader, "member").await;
    let (conversation, token) = app.conversation(&writer, &project, "Live").await;
    Client { addr: first }
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}"),
            &reader.token,
            &token,
        )
        .await;
    let mut typist = connect(first, &writer, None).await;
    let mut listener = connect(second, &reader, None).await;
    for socket in [&mut typist, &mut listener] {
        subscribe(
            socket,
            json!({"type": "subscribe", "conversation_id": conversation}),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let typing = json!({"type": "typing", "conversation_id": conversation}).to_string();
    // Two at once: one is passed on.
    for _ in 0..2 {
        typist
            .send(Message::Text(typing.clone().into()))
            .await
            .expect("send");
    }
    let heard = next_of(&mut listener, "user:isTyping").await;
    assert_eq!(heard["data"]["conversation_id"], conversation.as_str());
    assert_eq!(heard["data"]["user_id"], writer.id.as_str());
    assert_eq!(heard["data"]["display_name"], "Wanda");
    assert!(
        any_of(&mut listener, &["user:isTyping"], Duration::from_millis(500))
            .await
            .is_none(),
        "the second indicator within a second was passed on"
    );
    assert!(
        any_of(&mut typist, &["user:isTyping"], Duration::from_millis(200))
            .await
            .is_none(),
        "the typist heard itself"
    );
    // A second later, the next one goes through.
    tokio::time::sleep(Duration::from_millis(600)).await;
    typist.send(Message::Text(typing.into())).await.expect("send");
    next_of(&mut listener, "user:isTyping").await;
    // Typing where one does not listen is refused.
    let elsewhere = json!({"type": "typing", "conversation_id": uuid::Uuid::now_v7()}).to_string();
    listener
        .send(Message::Text(elsewhere.into()))
        .await
        .expect("send");
    let refused = next_of(&mut listener, "error:occurred").await;
    assert!(
        refused["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("subscribe")),
        "{refused}"
    );
}

#[tokio::test]
async fn a_read_key_opens_a_socket_for_its_project_only() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Keyed").await;
    let (other, token) = app.project(&owner, "Not the key's").await;
    app.get_consistent(&format!("/api/v1/projects/{other}"), &owner.token, &token)
        .await;
    let key = app.api_key(&owner, &project, json!(["read"]), None).await;
    let (mut socket, _) = connect_async(format!("ws://{}/api/v1/ws?token={key}", app.addr))
        .await
        .expect("a read key opens a socket");
    let hello = next_of(&mut socket, "connection:established").await;
    assert_eq!(hello["data"]["project_id"], project.as_str(), "{hello}");
    subscribe(&mut socket, json!({"type": "subscribe", "project_id": other})).await;
    let refused = next_of(&mut socket, "error:occurred").await;
    assert!(
        refused["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not found"))
    );
    subscribe(&mut socket, json!({"type": "subscribe", "project_id": project})).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.conversation(&owner, &other, "Hidden").await;
    let (conversation, _) = app.conversation(&owner, &project, "Seen").await;
    let heard = next_of(&mut socket, "conversation:created").await;
    assert_eq!(
        heard["data"]["conversation_id"],
        conversation.as_str(),
        "only its project's: {heard}"
    );
    // A person's own channel is not a key's.
    app.project(&owner, "Later").await;
    assert!(
        any_of(&mut socket, &["project:created"], Duration::from_millis(500))
            .await
            .is_none()
    );

    let writer_key = app.api_key(&owner, &project, json!(["usage:write"]), None).await;
    let refused = connect_async(format!("ws://{}/api/v1/ws?token={writer_key}", app.addr)).await;
    assert!(refused.is_err(), "a key without read opened a socket");
}
