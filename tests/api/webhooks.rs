//! Webhooks (issue 22): the WebSocket's messages delivered to a local
//! receiver, signed, in order, and queued while the receiver is down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use poem::listener::TcpListener;
use poem::{EndpointExt, Route, Server, post};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::app::{TestApp, User};
use crate::support::{spawn_app, spawn_app_with};

const SECRET: &str = "a-shared-secret-of-some-length";

/// One delivery as the receiver got it.
#[derive(Debug, Clone)]
struct Delivery {
    body: String,
    signature: String,
    event: String,
}

type Inbox = Arc<Mutex<Vec<Delivery>>>;

/// A free port nobody listens on (yet).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A receiver on `port` that takes every delivery (200) into `inbox`.
fn start_receiver(port: u16, inbox: Inbox) {
    let hook = poem::endpoint::make(move |mut req: poem::Request| {
        let inbox = inbox.clone();
        async move {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let (signature, event) = (header("X-Zekka-Signature"), header("X-Zekka-Event"));
            let body = req.take_body().into_string().await.unwrap_or_default();
            inbox.lock().expect("inbox").push(Delivery {
                body,
                signature,
                event,
            });
            "ok"
        }
    });
    let app = Route::new().at("/hook", post(hook)).boxed();
    tokio::spawn(Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(app));
}

fn signed(body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    format!("sha256={}", hex_of(&mac.finalize().into_bytes()))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

async fn add_webhook(
    app: &TestApp,
    user: &User,
    project: &str,
    url: &str,
    events: Value,
) -> crate::support::http::Response {
    app.request(
        "POST",
        &format!("/api/v1/projects/{project}/webhooks"),
        Some(&user.token),
        Some(&json!({"url": url, "events": events, "secret": SECRET})),
    )
    .await
}

async fn webhooks(app: &TestApp, user: &User, project: &str) -> Value {
    let listed = app
        .request(
            "GET",
            &format!("/api/v1/projects/{project}/webhooks"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    listed.json()
}

/// Waits until `done` holds for the webhook list.
async fn until_listed(app: &TestApp, user: &User, project: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = webhooks(app, user, project).await;
        if done(&listed) {
            return listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn deliveries_arrive_signed_in_order_and_wait_for_a_receiver_that_is_down() {
    let app = spawn_app_with(&[("WEBHOOK_ALLOW_PRIVATE_TARGETS", "yes")]).await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Hooked").await;
    let (other_project, _) = app.project(&owner, "Not hooked").await;
    let (conversation, _) = app.conversation(&owner, &project, "Talk").await;
    let (elsewhere, _) = app.conversation(&owner, &other_project, "Elsewhere").await;
    let port = free_port();
    let url = format!("http://localhost:{port}/hook");
    let added = add_webhook(&app, &owner, &project, &url, json!(["message:received"])).await;
    assert_eq!(added.status, 201, "{}", added.text());
    let webhook = added.json()["id"].as_str().expect("id").to_owned();

    // The receiver is down: deliveries queue, and the list says why.
    for n in 0..5 {
        app.send_message(&owner, &conversation, &format!("m{n}")).await;
        app.send_message(&owner, &elsewhere, &format!("not for the hook {n}"))
            .await;
    }
    let failing = until_listed(&app, &owner, &project, |listed| {
        listed["items"][0]["last_delivery"]["error"].is_string()
            && listed["items"][0]["last_delivery"]["pending"].as_i64() == Some(5)
    })
    .await;
    assert!(
        failing["items"][0]["last_delivery"]["failing_since"].is_string(),
        "{failing}"
    );
    assert_eq!(failing["items"][0]["last_delivery"]["delivered"], 0);

    // Back up: everything arrives, in order, once each, signed.
    let inbox: Inbox = Arc::default();
    start_receiver(port, inbox.clone());
    for n in 5..10 {
        app.send_message(&owner, &conversation, &format!("m{n}")).await;
    }
    let listed = until_listed(&app, &owner, &project, |listed| {
        listed["items"][0]["last_delivery"]["delivered"].as_i64() == Some(10)
    })
    .await;
    let last = &listed["items"][0]["last_delivery"];
    assert_eq!(last["pending"], 0, "{listed}");
    assert_eq!(last["status"], 200, "{listed}");
    assert!(
        last["error"].is_null() && last["failing_since"].is_null(),
        "{listed}"
    );
    assert_eq!(listed["items"][0]["id"], webhook.as_str());
    assert_eq!(listed["items"][0]["events"], json!(["message:received"]));
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");

    let deliveries = inbox.lock().expect("inbox").clone();
    assert_eq!(deliveries.len(), 10, "{deliveries:?}");
    let mut positions = Vec::new();
    for (n, delivery) in deliveries.iter().enumerate() {
        assert_eq!(
            delivery.signature,
            signed(&delivery.body),
            "delivery {n} is signed with the secret"
        );
        assert_eq!(delivery.event, "message:received");
        let message: Value = serde_json::from_str(&delivery.body).expect("JSON");
        assert_eq!(message["type"], "message:received");
        assert_eq!(message["data"]["content"], format!("m{n}"), "in order: {message}");
        assert_eq!(message["data"]["project_id"], project.as_str());
        positions.push(message["position"].as_i64().expect("position"));
    }
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{positions:?}"
    );

    // Removed: nothing more arrives.
    let removed = app
        .request(
            "DELETE",
            &format!("/api/v1/projects/{project}/webhooks/{webhook}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text());
    app.send_message(&owner, &conversation, "after removal").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(inbox.lock().expect("inbox").len(), 10);
    assert_eq!(webhooks(&app, &owner, &project).await["items"], json!([]));
}

#[tokio::test]
async fn webhooks_are_for_managers_checked_and_never_point_inside_by_default() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Guarded").await;
    app.add_member(&owner, &project, &member, "member").await;
    let base = format!("/api/v1/projects/{project}/webhooks");
    let public = "https://hooks.example.com/zekka";

    for internal in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://10.0.0.7/hook",
    ] {
        let refused = add_webhook(&app, &owner, &project, internal, json!(["task:created"])).await;
        let problem = refused.assert_problem(422);
        assert_eq!(problem["errors"][0]["field"], "url", "{internal}: {problem}");
    }
    let bad = app
        .request(
            "POST",
            &base,
            Some(&owner.token),
            Some(&json!({"url": "ftp://example.com", "events": ["no:such"], "secret": "short"})),
        )
        .await;
    let problem = bad.assert_problem(422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|error| error["field"].as_str())
        .collect();
    assert_eq!(fields, ["url", "events", "secret"], "{problem}");

    add_webhook(&app, &member, &project, public, json!(["task:created"]))
        .await
        .assert_problem(403);
    add_webhook(&app, &stranger, &project, public, json!(["task:created"]))
        .await
        .assert_problem(404);
    app.request("GET", &base, Some(&member.token), None)
        .await
        .assert_problem(403);
    app.request("GET", &base, Some(&stranger.token), None)
        .await
        .assert_problem(404);

    let added = add_webhook(
        &app,
        &owner,
        &project,
        public,
        json!(["task:created", "conflict:escalated"]),
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.text());
    let webhook = added.json()["id"].as_str().expect("id").to_owned();
    for user in [&member, &stranger] {
        let answer = app
            .request("DELETE", &format!("{base}/{webhook}"), Some(&user.token), None)
            .await;
        assert!([403, 404].contains(&answer.status), "{}", answer.text());
    }
    let listed = webhooks(&app, &owner, &project).await;
    assert_eq!(
        listed["items"][0]["events"],
        json!(["conflict:escalated", "task:created"])
    );
    app.request(
        "DELETE",
        &format!("{base}/{}", uuid::Uuid::new_v4()),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(404);
}
