//! Real-time push: messages reach subscribed sockets of members only, a
//! reconnect replays what was missed, every query-api process pushes every
//! event, and a client that never reads is cut off without slowing others.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use zekka::Services;

use crate::support::app::{Client, User, start_service, test_config_with};
use crate::support::{TestDatabase, spawn_app_with};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(crate) async fn connect(addr: std::net::SocketAddr, user: &User, after: Option<i64>) -> Socket {
    let mut url = format!("ws://{addr}/api/v1/ws?token={}", user.token);
    if let Some(after) = after {
        url.push_str(&format!("&after={after}"));
    }
    let (mut socket, _) = connect_async(url).await.expect("websocket upgrade");
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "connection:established", "{hello}");
    socket
}

/// The next text message, as JSON (pings are answered by the client).
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

/// The next message of `kind`, skipping others (`metrics:updated`, …).
pub(crate) async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = next_json(socket).await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// The reason of the close frame the server sends within `wait`, if any.
async fn close_reason<S>(socket: &mut WebSocketStream<S>, wait: Duration) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Ok(Some(frame)) = tokio::time::timeout(wait, socket.next()).await {
        match frame {
            Ok(Message::Close(frame)) => return frame.map(|f| f.reason.to_string()),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    None
}

pub(crate) async fn subscribe(socket: &mut Socket, body: Value) {
    socket
        .send(Message::Text(body.to_string().into()))
        .await
        .expect("send subscribe");
}

#[tokio::test]
async fn messages_reach_subscribed_members_in_order_and_never_anyone_else() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60")]).await;
    let owner = app.user("owner").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Live project").await;
    let (conversation, token) = app.conversation(&owner, &project, "Live").await;
    app.get_consistent(
        &format!("/api/v1/conversations/{conversation}"),
        &owner.token,
        &token,
    )
    .await;

    let mut member = connect(app.addr, &owner, None).await;
    subscribe(
        &mut member,
        json!({"type": "subscribe", "conversation_id": conversation}),
    )
    .await;
    let mut outsider = connect(app.addr, &stranger, None).await;
    subscribe(
        &mut outsider,
        json!({"type": "subscribe", "conversation_id": conversation}),
    )
    .await;
    let refused = next_json(&mut outsider).await;
    assert_eq!(refused["type"], "error:occurred", "{refused}");
    subscribe(&mut outsider, json!({"type": "subscribe", "project_id": project})).await;
    assert_eq!(next_json(&mut outsider).await["type"], "error:occurred");
    subscribe(&mut outsider, json!({"type": "dance"})).await;
    assert_eq!(next_json(&mut outsider).await["type"], "error:occurred");
    // Let the subscription land before sending.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut positions = Vec::new();
    for n in 0..50 {
        let sent = app
            .send_message(&owner, &conversation, &format!("live {n}"))
            .await;
        let pushed = next_of(&mut member, "message:received").await;
        assert_eq!(pushed["data"]["content"], format!("live {n}"), "{pushed}");
        assert_eq!(pushed["data"]["message_id"], sent["id"], "{pushed}");
        assert_eq!(pushed["data"]["conversation_id"], conversation.as_str());
        positions.push(pushed["position"].as_i64().expect("position"));
    }
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    // The outsider heard nothing of it.
    let nothing = tokio::time::timeout(Duration::from_millis(300), outsider.next()).await;
    assert!(
        !matches!(&nothing, Ok(Some(Ok(Message::Text(t)))) if t.contains("live")),
        "{nothing:?}"
    );

    // Bad upgrades are problems, not sockets.
    let no_token = connect_async(format!("ws://{}/api/v1/ws", app.addr)).await;
    assert!(no_token.is_err());
    let bad_after = connect_async(format!(
        "ws://{}/api/v1/ws?token={}&after=999999999",
        app.addr, owner.token
    ))
    .await;
    assert!(bad_after.is_err());
}

#[tokio::test]
async fn a_reconnect_with_after_replays_every_missed_event_once_in_order_then_live_ones() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60")]).await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Reconnecting").await;
    let (conversation, token) = app.conversation(&owner, &project, "Live").await;
    app.get_consistent(
        &format!("/api/v1/conversations/{conversation}"),
        &owner.token,
        &token,
    )
    .await;
    let mut socket = connect(app.addr, &owner, None).await;
    subscribe(&mut socket, json!({"type": "subscribe", "project_id": project})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.send_message(&owner, &conversation, "before the drop").await;
    let last_seen = next_of(&mut socket, "message:received").await["position"]
        .as_i64()
        .expect("position");
    drop(socket);

    let mut missed = Vec::new();
    for n in 0..20 {
        missed.push(
            app.send_message(&owner, &conversation, &format!("missed {n}"))
                .await["id"]
                .clone(),
        );
    }
    let last = app.send_message(&owner, &conversation, "missed last").await;
    missed.push(last["id"].clone());
    // Let the projections and the hub pass them.
    app.get_consistent(
        &format!("/api/v1/conversations/{conversation}/messages"),
        &owner.token,
        last["consistency_token"].as_str().expect("token"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut socket = connect(app.addr, &owner, Some(last_seen)).await;
    subscribe(&mut socket, json!({"type": "subscribe", "project_id": project})).await;
    let mut replayed = Vec::new();
    while replayed.len() < missed.len() {
        let message = next_of(&mut socket, "message:received").await;
        assert!(message["position"].as_i64() > Some(last_seen));
        replayed.push(message["data"]["message_id"].clone());
    }
    assert_eq!(replayed, missed, "every missed message once, in order");
    // Then live ones, and nothing replayed twice.
    app.send_message(&owner, &conversation, "live again").await;
    let live = next_of(&mut socket, "message:received").await;
    assert_eq!(live["data"]["content"], "live again", "{live}");
}

#[tokio::test]
async fn sockets_on_two_query_api_processes_receive_every_event() {
    let db = TestDatabase::migrated().await;
    let config = |extra: &[(&str, &str)]| {
        let mut overrides = vec![("RATE_LIMIT_WRITES", "100000/60")];
        overrides.extend_from_slice(extra);
        test_config_with(&db.url, &overrides)
    };
    let (writes, _w) = start_service(config(&[]), Services::CommandApi).await;
    let (_projectors, _p) = start_service(config(&[]), Services::Projectors).await;
    let (first, _q1) = start_service(config(&[]), Services::QueryApi).await;
    let (second, _q2) = start_service(config(&[]), Services::QueryApi).await;
    let app = Client { addr: writes };
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Split").await;
    let (conversation, token) = app.conversation(&owner, &project, "Live").await;
    // Wait until the read side knows the conversation.
    let reader = Client { addr: first };
    reader
        .get_consistent(
            &format!("/api/v1/conversations/{conversation}"),
            &owner.token,
            &token,
        )
        .await;
    let mut sockets = vec![
        connect(first, &owner, None).await,
        connect(second, &owner, None).await,
    ];
    for socket in &mut sockets {
        subscribe(
            socket,
            json!({"type": "subscribe", "conversation_id": conversation}),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    for n in 0..10 {
        app.send_message(&owner, &conversation, &format!("to both {n}"))
            .await;
    }
    for socket in &mut sockets {
        for n in 0..10 {
            let message = next_of(socket, "message:received").await;
            assert_eq!(message["data"]["content"], format!("to both {n}"));
        }
    }
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_the_others_still_get_everything() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60"), ("REALTIME_QUEUE", "64")]).await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Firehose").await;
    let (conversation, token) = app.conversation(&owner, &project, "Live").await;
    app.get_consistent(
        &format!("/api/v1/conversations/{conversation}"),
        &owner.token,
        &token,
    )
    .await;
    // A client with a small receive buffer that stops reading after its
    // subscription.
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(4096).expect("buffer size");
    let tcp = tcp.connect(app.addr).await.expect("connect");
    let (mut stalled, _) =
        tokio_tungstenite::client_async(format!("ws://{}/api/v1/ws?token={}", app.addr, owner.token), tcp)
            .await
            .expect("websocket upgrade");
    stalled
        .send(Message::Text(
            json!({"type": "subscribe", "conversation_id": conversation})
                .to_string()
                .into(),
        ))
        .await
        .expect("subscribe");
    let mut reader = connect(app.addr, &owner, None).await;
    subscribe(
        &mut reader,
        json!({"type": "subscribe", "conversation_id": conversation}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Large messages fill the stalled socket's TCP buffers, then its queue.
    let big = "x".repeat(60 * 1024);
    let count = 200;
    let reading = async {
        for _ in 0..count {
            let message = next_of(&mut reader, "message:received").await;
            assert_eq!(message["data"]["content"].as_str().map(str::len), Some(big.len()));
        }
    };
    let writing = async {
        for _ in 0..count {
            app.send_message(&owner, &conversation, &big).await;
        }
    };
    tokio::join!(reading, writing);

    // The stalled socket was closed with a reason.
    let closed = close_reason(&mut stalled, Duration::from_secs(10)).await;
    assert!(
        closed
            .as_deref()
            .is_some_and(|reason| reason.contains("too slow")),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_socket_of_a_revoked_token_is_closed_within_seconds() {
    let app = spawn_app_with(&[]).await;
    let owner = app.user("owner").await;
    let mut socket = connect(app.addr, &owner, None).await;
    let logout = app
        .request(
            "POST",
            "/api/v1/auth/logout",
            Some(&owner.token),
            Some(&json!({"refresh_token": owner.refresh_token})),
        )
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    let closed = close_reason(&mut socket, Duration::from_secs(8)).await;
    assert!(
        closed.as_deref().is_some_and(|reason| reason.contains("revoked")),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_client_message_over_the_size_limit_closes_that_socket_and_no_other() {
    let app = spawn_app_with(&[]).await;
    let user = app.user("talker").await;
    let mut big = connect(app.addr, &user, None).await;
    let mut small = connect(app.addr, &user, None).await;

    let padding = "x".repeat(zekka_query_api::realtime::socket::MAX_CLIENT_MESSAGE + 1);
    let huge = json!({"type": "subscribe", "padding": padding});
    // The server may close while the frame is still being written.
    let _ = big.send(Message::Text(huge.to_string().into())).await;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), big.next()).await {
            Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => break true,
            Ok(Some(Ok(_))) => {}
            Err(_) => break false,
        }
    };
    assert!(closed, "a message over the limit closes the socket");

    // The other socket is still served.
    subscribe(&mut small, json!({"type": "dance"})).await;
    assert_eq!(next_json(&mut small).await["type"], "error:occurred");
}

/// Security review F17: a browser authenticates its socket with the access
/// token as a `Sec-WebSocket-Protocol` value beside `zekka` (the server
/// answers `zekka`, never the token), so the token stays out of URLs.
#[tokio::test]
async fn a_socket_authenticates_with_its_token_as_a_subprotocol() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_app_with(&[]).await;
    let user = app.user("browser").await;
    let mut request = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("zekka, {}", user.token).parse().expect("header value"),
    );
    let (mut socket, answer) = connect_async(request).await.expect("websocket upgrade");
    assert_eq!(
        answer
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("zekka")
    );
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "connection:established", "{hello}");

    let mut forged = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .expect("request");
    forged.headers_mut().insert(
        "sec-websocket-protocol",
        "zekka, v4.public.forged".parse().expect("header value"),
    );
    assert!(connect_async(forged).await.is_err(), "a forged token is refused");
}
