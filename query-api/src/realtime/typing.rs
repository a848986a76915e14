//! Typing indicators: a socket's `{"type": "typing", "conversation_id"}`
//! (at most one a second is passed on) becomes `user:isTyping` on every
//! other socket subscribed to that conversation, on every process, through
//! the relay (Redis pub/sub). Nothing is stored.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use zekka_platform::shutdown::Shutdown;

use super::hub::Hub;
use super::messages::{self, Outgoing};

/// A typing indicator as it passes between processes.
#[derive(Debug, Serialize, Deserialize)]
struct Typing {
    /// The process of the socket it came from.
    process: Uuid,
    /// That socket, which does not hear its own typing.
    socket: u64,
    conversation_id: Uuid,
    user_id: Uuid,
    display_name: String,
}

impl Hub {
    /// Passes `display_name`'s typing in `conversation_id`, from socket
    /// `socket`, to every process's sockets subscribed to it.
    pub async fn typing(&self, socket: u64, conversation_id: Uuid, user_id: Uuid, display_name: String) {
        let typing = Typing {
            process: self.process,
            socket,
            conversation_id,
            user_id,
            display_name,
        };
        if let Ok(text) = serde_json::to_string(&typing) {
            self.typing.publish(text).await;
        }
    }

    /// Hands every typing indicator from the relay to the sockets
    /// subscribed to its conversation (but the one it came from), until
    /// `shutdown`.
    pub async fn relay_typing(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut receiver = self.typing.receiver();
        loop {
            let text = tokio::select! {
                () = shutdown.wait() => return,
                received = receiver.recv() => match received {
                    Ok(text) => text,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            };
            let Ok(typing) = serde_json::from_str::<Typing>(&text) else {
                continue;
            };
            let message = Outgoing {
                position: self.cursor(),
                project_id: None,
                conversation_id: Some(typing.conversation_id),
                removed_member: None,
                user_id: None,
                text: messages::text(
                    "user:isTyping",
                    json!({
                        "conversation_id": typing.conversation_id,
                        "user_id": typing.user_id,
                        "display_name": typing.display_name,
                    }),
                    self.cursor().global_position,
                ),
            };
            let Ok(state) = self.state.lock() else {
                continue;
            };
            for (id, subscriber) in &state.sockets {
                let own = typing.process == self.process && typing.socket == *id;
                let listens = subscriber
                    .subscriptions
                    .lock()
                    .is_ok_and(|subs| subs.conversations.contains_key(&typing.conversation_id));
                if !own && listens {
                    Self::offer(subscriber, &message);
                }
            }
        }
    }
}
