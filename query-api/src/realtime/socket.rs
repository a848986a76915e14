//! `GET /api/v1/ws`: one socket's life. Authenticates the access token
//! (`Authorization`, a `Sec-WebSocket-Protocol` value beside `zekka`, or
//! `?token=`), answers `connection:established`, takes
//! `subscribe`/`unsubscribe` for what the user may see, replays what a
//! reconnecting client missed (`?after=<position>`), and forwards the hub's
//! messages. Pings find dead peers; a revoked or expired token, or a queue
//! that overflows, closes the socket with a reason.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use zekka_event_store::database::CachedQueries;

use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig};
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use zekka_domain::project::Scope;
use zekka_event_store::event_log::{self, Position, ReplayScope};
use zekka_event_store::lookups::positions;
use zekka_platform::Problem;
use zekka_platform::api_keys::{self, ApiKeys, KeyGrant, KeyRefusal};
use zekka_platform::revocation::Revocations;
use zekka_platform::tokens::{AccessClaims, TokenVerifier};

use super::hub::{Hub, Subscriber};
use super::messages;

/// The largest message a client may send.
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;
/// Between two pings; a peer silent for two of these is gone.
const PING_EVERY: Duration = Duration::from_secs(15);
/// How often the token's revocation is checked.
const REVOCATION_CHECK: Duration = Duration::from_secs(2);
/// Events replayed at most for one subscription of a reconnecting client.
const MAX_REPLAY: i64 = 10_000;
/// At most one typing indicator a socket passes on per this interval.
const TYPING_EVERY: Duration = Duration::from_secs(1);

/// Who a socket belongs to.
enum Holder {
    /// A person, by their access token.
    Person(AccessClaims),
    /// A project API key with `read`: it hears its project only.
    Key {
        /// What the key may do.
        grant: KeyGrant,
        /// The key itself, checked again for revocation.
        token: String,
        /// The verifier.
        keys: Arc<ApiKeys>,
    },
}

impl Holder {
    /// The user whose access decides what the socket sees.
    fn user_id(&self) -> Uuid {
        match self {
            Holder::Person(claims) => claims.user_id,
            Holder::Key { grant, .. } => grant.created_by,
        }
    }

    /// The only project a key's socket may hear.
    fn only_project(&self) -> Option<Uuid> {
        match self {
            Holder::Person(_) => None,
            Holder::Key { grant, .. } => Some(grant.project_id),
        }
    }

    /// Whether the credentials still hold (not revoked).
    async fn still_valid(&self, revocations: &Revocations) -> bool {
        match self {
            Holder::Person(claims) => matches!(revocations.is_revoked(claims).await, Ok(false)),
            Holder::Key { token, keys, .. } => keys.verify(token).await.is_ok(),
        }
    }

    /// How long the credentials last (a key: until revoked).
    fn expires_in(&self) -> Duration {
        match self {
            Holder::Person(claims) => (claims.expires_at - chrono::Utc::now())
                .to_std()
                .unwrap_or_default(),
            Holder::Key { .. } => Duration::from_secs(365 * 24 * 3600),
        }
    }
}

/// The holder of `token`: a person's access token, or an API key with `read`.
async fn holder_of(
    req: &Request,
    token: String,
    verifier: &TokenVerifier,
    revocations: &Revocations,
) -> Result<Holder, Problem> {
    if token.starts_with(api_keys::PREFIX) {
        let keys = req
            .data::<Arc<ApiKeys>>()
            .cloned()
            .ok_or_else(|| Problem::internal(&std::io::Error::other("no API key verifier installed")))?;
        let grant = match keys.verify(&token).await {
            Ok(grant) => grant,
            Err(KeyRefusal::Invalid) => return Err(Problem::unauthorized("the API key is invalid")),
            Err(KeyRefusal::Revoked) => return Err(Problem::unauthorized("the API key has been revoked")),
            Err(KeyRefusal::Unavailable(_)) => {
                return Err(Problem::unavailable("cannot check the API key right now", 2));
            }
        };
        if !grant.allows(Scope::Read) {
            return Err(Problem::forbidden("a socket needs a key with the `read` scope"));
        }
        return Ok(Holder::Key { grant, token, keys });
    }
    let claims = verifier
        .verify(&token)
        .map_err(|_| Problem::unauthorized("the access token is invalid or expired"))?;
    match revocations.is_revoked(&claims).await {
        Ok(false) => Ok(Holder::Person(claims)),
        Ok(true) => Err(Problem::unauthorized("the access token has been revoked")),
        Err(_) => Err(Problem::unavailable("cannot check the access token right now", 2)),
    }
}

/// The query string of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct SocketParams {
    /// The access token, for clients that cannot set headers.
    token: Option<String>,
    /// The `position` of the last message received before a disconnect.
    after: Option<i64>,
}

/// What a client may send.
#[derive(Debug, Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    project_id: Option<Uuid>,
    conversation_id: Option<Uuid>,
}

fn problem(problem: Problem) -> Response {
    poem::Error::from(problem).into_response()
}

/// The WebSocket endpoint.
#[handler]
pub async fn realtime_socket(
    req: &Request,
    ws: WebSocket,
    Query(params): Query<SocketParams>,
    hub: Data<&Arc<Hub>>,
    verifier: Data<&Arc<TokenVerifier>>,
    revocations: Data<&Revocations>,
) -> Response {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| protocol_token(req))
        .or(params.token);
    let Some(token) = bearer else {
        return problem(Problem::unauthorized("an access token is required"));
    };
    let holder = match holder_of(req, token, &verifier, &revocations).await {
        Ok(holder) => holder,
        Err(refusal) => return problem(refusal),
    };
    let after = match params.after {
        Some(after) => match position_of(&hub, after).await {
            Ok(Some(position)) => Some(position),
            Ok(None) => return problem(Problem::bad_request("`after` is not the position of an event")),
            Err(error) => return problem(error),
        },
        None => None,
    };
    let hub = hub.0.clone();
    let revocations = revocations.0.clone();
    // Small buffers: tungstenite's defaults (128 KiB each way per socket)
    // would cost over a gigabyte at 10,000 sockets. A socket whose unsent
    // data passes the write limit fails its send and is closed.
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_CLIENT_MESSAGE);
    config.max_frame_size = Some(MAX_CLIENT_MESSAGE);
    config.read_buffer_size = 4 * 1024;
    config.write_buffer_size = 0;
    config.max_write_buffer_size = 1024 * 1024;
    ws.config(config)
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| session(hub, holder, revocations, after, socket))
        .into_response()
}

/// The subprotocol a browser offers beside its access token, and the one
/// the server answers with (the token itself is never echoed).
pub const PROTOCOL: &str = "zekka";

/// The access token offered as a `Sec-WebSocket-Protocol` value beside
/// [`PROTOCOL`]: how a browser, which cannot set `Authorization` on a
/// socket, authenticates without putting the token in the URL (where proxy
/// logs keep it; security review F17): `new WebSocket(url, ["zekka", token])`.
fn protocol_token(req: &Request) -> Option<String> {
    req.headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| p.starts_with("v4.public.") || p.starts_with(api_keys::PREFIX))
        .map(str::to_owned)
}

/// The commit-order position of the event at global position `after`.
async fn position_of(hub: &Hub, after: i64) -> Result<Option<Position>, Problem> {
    let client = hub.pool().get().await.map_err(Problem::from_pool)?;
    Ok(positions::position_at(&client, after).await?)
}

fn error_message(message: &str) -> Message {
    Message::Text(json!({"type": "error:occurred", "data": {"message": message}}).to_string())
}

/// The name others see beside `user`'s typing.
async fn display_name(hub: &Hub, user: Uuid) -> String {
    let Ok(client) = hub.pool().get().await else {
        return String::new();
    };
    client
        .query_opt_cached("SELECT display_name FROM rm_users WHERE user_id = $1", &[&user])
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get(0).ok())
        .unwrap_or_default()
}

/// What one socket keeps between client messages.
struct Session<'a> {
    hub: &'a Hub,
    id: u64,
    subscriber: &'a Subscriber,
    holder: &'a Holder,
    after: Option<Position>,
    /// The name shown beside this person's typing (persons only).
    display_name: Option<String>,
    /// When a typing indicator was last passed on.
    last_typing: Option<tokio::time::Instant>,
}

async fn session(
    hub: Arc<Hub>,
    holder: Holder,
    revocations: Revocations,
    after: Option<Position>,
    socket: poem::web::websocket::WebSocketStream,
) {
    let (mut sink, mut stream) = socket.split();
    let user_id = holder.user_id();
    let personal = matches!(holder, Holder::Person(_));
    let (id, subscriber, mut queue) = hub.register(user_id, personal);
    let mut data = json!({"user_id": user_id});
    if let Holder::Key { grant, .. } = &holder {
        data = json!({"user_id": user_id, "api_key_id": grant.key_id, "project_id": grant.project_id});
    }
    let established = json!({"type": "connection:established",
                             "data": data, "position": hub.cursor().global_position});
    if sink.send(Message::Text(established.to_string())).await.is_err() {
        hub.unregister(id);
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut revocation = tokio::time::interval(REVOCATION_CHECK);
    let expiry = tokio::time::sleep(holder.expires_in());
    let mut state = Session {
        hub: &hub,
        id,
        subscriber: &subscriber,
        holder: &holder,
        after,
        display_name: if personal {
            Some(display_name(&hub, user_id).await)
        } else {
            None
        },
        last_typing: None,
    };
    tokio::pin!(expiry);
    let mut silent_pings = 0_u32;
    let close = loop {
        tokio::select! {
            message = queue.recv() => match message {
                Some(message) => {
                    if sink.send(Message::Text(message.text.to_string())).await.is_err() {
                        break None;
                    }
                }
                None => break None,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    silent_pings = 0;
                    for reply in handle(&mut state, &text).await {
                        if sink.send(reply).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) => silent_pings = 0,
            },
            () = subscriber.overflow.notified() => {
                break Some((CloseCode::Again, "too slow: the message queue overflowed; reconnect with ?after="));
            }
            _ = ping.tick() => {
                if silent_pings >= 2 {
                    break Some((CloseCode::Away, "no answer to pings"));
                }
                silent_pings += 1;
                if sink.send(Message::Ping(Vec::new())).await.is_err() {
                    break None;
                }
            }
            _ = revocation.tick() => {
                if !holder.still_valid(&revocations).await {
                    break Some((CloseCode::Policy, "the access token was revoked"));
                }
            }
            () = &mut expiry => break Some((CloseCode::Policy, "the access token expired")),
        }
        if subscriber.overflowed.load(Ordering::Relaxed) {
            break Some((
                CloseCode::Again,
                "too slow: the message queue overflowed; reconnect with ?after=",
            ));
        }
    };
    hub.unregister(id);
    if let Some((code, reason)) = close {
        let _ = sink.send(Message::close_with(code, reason)).await;
    }
    let _ = sink.close().await;
}

/// Passes a typing indicator on for a conversation this socket listens
/// to, at most once per [`TYPING_EVERY`]; others are dropped quietly.
async fn typing(state: &mut Session<'_>, conversation: Option<Uuid>) -> Vec<Message> {
    let Some(conversation) = conversation else {
        return vec![error_message("typing names a conversation_id")];
    };
    let Some(name) = state.display_name.clone() else {
        return vec![error_message("an API key's socket does not type")];
    };
    let listens = state
        .subscriber
        .subscriptions
        .lock()
        .is_ok_and(|subs| subs.conversations.contains_key(&conversation));
    if !listens {
        return vec![error_message("subscribe to the conversation before typing in it")];
    }
    let now = tokio::time::Instant::now();
    if state.last_typing.is_some_and(|last| now - last < TYPING_EVERY) {
        return vec![];
    }
    state.last_typing = Some(now);
    state
        .hub
        .typing(state.id, conversation, state.subscriber.user_id, name)
        .await;
    vec![]
}

/// Answers one client message: subscriptions change, typing, or an error.
async fn handle(state: &mut Session<'_>, text: &str) -> Vec<Message> {
    let Ok(message) = serde_json::from_str::<ClientMessage>(text) else {
        return vec![error_message(
            "messages are {\"type\": \"subscribe\"|\"unsubscribe\"|\"typing\", \"project_id\"|\"conversation_id\": …}",
        )];
    };
    let subscribe = match message.kind.as_str() {
        "subscribe" => true,
        "unsubscribe" => false,
        "typing" => return typing(state, message.conversation_id).await,
        _ => return vec![error_message("unknown message type")],
    };
    let (hub, subscriber, after) = (state.hub, state.subscriber, state.after);
    let target = match (message.project_id, message.conversation_id) {
        (Some(project), None) => Target::Project(project),
        (None, Some(conversation)) => Target::Conversation(conversation),
        _ => return vec![error_message("name exactly one of project_id or conversation_id")],
    };
    if !subscribe {
        hub.subscribe(subscriber, |subs| match target {
            Target::Project(p) => {
                subs.projects.remove(&p);
            }
            Target::Conversation(c) => {
                subs.conversations.remove(&c);
            }
        });
        return Vec::new();
    }
    let project = match allowed(hub, subscriber.user_id, target).await {
        Ok(Some(project)) if state.holder.only_project().is_none_or(|only| only == project) => project,
        Ok(Some(_)) => return vec![error_message("not found, or not yours to see")],
        Ok(None) => return vec![error_message("not found, or not yours to see")],
        Err(_) => return vec![error_message("cannot check access right now; retry")],
    };
    let bound = hub.subscribe(subscriber, |subs| match target {
        Target::Project(p) => {
            subs.projects.insert(p);
        }
        Target::Conversation(c) => {
            subs.conversations.insert(c, project);
        }
    });
    match after {
        Some(after) if after < bound => match replay(hub, target, project, after, bound).await {
            Ok(messages) => messages,
            Err(_) => vec![error_message("cannot replay what was missed; reload")],
        },
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Project(Uuid),
    Conversation(Uuid),
}

/// The project of `target` when `user` is a member of it.
async fn allowed(hub: &Hub, user: Uuid, target: Target) -> Result<Option<Uuid>, String> {
    let client = hub.pool().get().await.map_err(|e| e.to_string())?;
    let row = match target {
        Target::Project(project) => {
            client
                .query_opt_cached(
                    "SELECT project_id FROM visible_projects($2) WHERE project_id = $1",
                    &[&project, &user],
                )
                .await
        }
        Target::Conversation(conversation) => {
            client
                .query_opt_cached(
                    "SELECT c.project_id FROM rm_conversations c
                       JOIN visible_projects($2) v ON v.project_id = c.project_id
                      WHERE c.conversation_id = $1",
                    &[&conversation, &user],
                )
                .await
        }
    }
    .map_err(|e| e.to_string())?;
    row.map(|r| r.try_get(0)).transpose().map_err(|e| e.to_string())
}

/// The messages of `target` after `after` up to `bound`, in order.
async fn replay(
    hub: &Hub,
    target: Target,
    project: Uuid,
    after: Position,
    bound: Position,
) -> Result<Vec<Message>, String> {
    let client = hub.pool().get().await.map_err(|e| e.to_string())?;
    let conversation_id;
    let scope = match target {
        Target::Project(_) => ReplayScope::Project(project),
        Target::Conversation(c) => {
            conversation_id = c.to_string();
            ReplayScope::Stream {
                aggregate_type: "Conversation",
                aggregate_id: &conversation_id,
            }
        }
    };
    let mut events = event_log::replay(&client, scope, after, bound, MAX_REPLAY)
        .await
        .map_err(|e| e.to_string())?;
    hub.personal()
        .open_events(&client, &mut events)
        .await
        .map_err(|e| e.to_string())?;
    Ok(events
        .iter()
        .filter_map(|event| messages::outgoing(event, Some(project)))
        .map(|m| Message::Text(m.text.to_string()))
        .collect())
}
