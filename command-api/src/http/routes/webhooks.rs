//! Webhook routes: add, list (with delivery state) and remove a project's webhooks.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{MessageKinds, SharedSecret, Text, WebhookUrl};

use super::{CommandTags, NoContent, Written};
use crate::app::state::CommandState;
use crate::app::webhooks::registry::{self, NewWebhook, WebhookView};
use crate::http::{self, limits};

/// A project's webhooks.
pub struct WebhookApi {
    state: Arc<CommandState>,
}

/// A webhook to add.
#[derive(Debug, Object)]
struct AddWebhookRequest {
    /// An http or https URL with a host name (no IP address, no user info;
    /// at most 2048 characters; no internal hosts unless the server allows them).
    url: Text<WebhookUrl>,
    /// The message types it receives: the WebSocket's (`task:created`, `conflict:escalated`, …).
    events: MessageKinds,
    /// 16 to 256 characters: the key of `X-Zekka-Signature: sha256=<hex HMAC-SHA-256 of the body>`.
    secret: Text<SharedSecret<16, 256>>,
}

/// How deliveries to a webhook go.
#[derive(Debug, Object)]
struct LastDelivery {
    /// Deliveries its receiver took.
    delivered: i64,
    /// Deliveries waiting (in order; the first is retried with back-off).
    pending: i64,
    /// When its receiver last took one.
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// The HTTP status of the last attempt, if it got an answer.
    status: Option<i32>,
    /// Why the last attempt failed, while attempts fail.
    error: Option<String>,
    /// Since when attempts fail, while they do.
    failing_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// A webhook (never its secret).
#[derive(Debug, Object)]
struct Webhook {
    id: Uuid,
    url: String,
    events: Vec<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    last_delivery: LastDelivery,
}

impl From<WebhookView> for Webhook {
    fn from(view: WebhookView) -> Self {
        Self {
            id: view.webhook_id,
            url: view.url,
            events: view.events,
            created_at: view.created_at,
            last_delivery: LastDelivery {
                delivered: view.delivered,
                pending: view.pending,
                at: view.last_delivery_at,
                status: view.last_status,
                error: view.last_error,
                failing_since: view.failing_since,
            },
        }
    }
}

/// A project's webhooks.
#[derive(Debug, Object)]
struct WebhookList {
    items: Vec<Webhook>,
}

#[derive(ApiResponse)]
enum WebhookAdded {
    /// The webhook was added; deliveries start with the next event.
    #[oai(status = 201)]
    Created(Json<Written>, #[oai(header = "X-Consistency-Token")] String),
}

impl WebhookApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/api/v1/projects", tag = "CommandTags::Execution")]
impl WebhookApi {
    /// Add a webhook (owners and admins; at most 20 per project).
    #[oai(path = "/:id/webhooks", method = "post", operation_id = "addWebhook")]
    async fn add(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AddWebhookRequest>,
    ) -> Result<WebhookAdded, Problem> {
        let actor = auth.0.user_id;
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let webhook = NewWebhook {
            url: body.0.url.into_string(),
            events: body.0.events.0,
            secret: body.0.secret.into_string(),
        };
        let (webhook_id, token) = registry::add(&self.state, id.0, actor, webhook, &context).await?;
        let token = token.to_string();
        Ok(WebhookAdded::Created(
            Json(Written {
                id: webhook_id,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// The project's webhooks and how their deliveries go (owners and admins).
    #[oai(path = "/:id/webhooks", method = "get", operation_id = "listWebhooks")]
    async fn list(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Json<WebhookList>, Problem> {
        let items = registry::list(&self.state, id.0, auth.0.user_id).await?;
        Ok(Json(WebhookList {
            items: items.into_iter().map(Webhook::from).collect(),
        }))
    }

    /// Remove a webhook: nothing more is delivered to it.
    #[oai(
        path = "/:id/webhooks/:webhook_id",
        method = "delete",
        operation_id = "removeWebhook"
    )]
    async fn remove(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        webhook_id: Path<Uuid>,
    ) -> Result<NoContent, Problem> {
        let actor = auth.0.user_id;
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let token = registry::remove(&self.state, id.0, actor, webhook_id.0, &context).await?;
        Ok(NoContent::Done(token.to_string()))
    }
}
