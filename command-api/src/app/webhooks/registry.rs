//! A project's webhooks: added and removed by owners and admins (an event
//! on the project's stream each, for the audit), kept with their secret
//! and delivery state in the `webhooks` table.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use zekka_domain::FieldError;
use zekka_domain::project::ProjectCommand;
use zekka_event_store::consistency::ConsistencyToken;
use zekka_platform::notifications::KINDS;

use crate::app::access;
use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::state::CommandState;

/// The longest URL a webhook may have.
const MAX_URL_CHARS: usize = 2048;

/// The shortest and longest secret.
const SECRET_CHARS: (usize, usize) = (16, 256);

/// A webhook to add, as asked.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Where deliveries go.
    pub url: String,
    /// The message types it receives.
    pub events: Vec<String>,
    /// The key of the deliveries' HMAC-SHA-256 signature.
    pub secret: String,
}

/// A webhook as its project's managers see it (never its secret).
#[derive(Debug, Clone)]
pub struct WebhookView {
    /// Its id.
    pub webhook_id: Uuid,
    /// Where deliveries go.
    pub url: String,
    /// The message types it receives.
    pub events: Vec<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Deliveries its receiver took.
    pub delivered: i64,
    /// Deliveries waiting (the head is retried with back-off).
    pub pending: i64,
    /// When its receiver last took one.
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt (`None`: no answer, or none yet).
    pub last_status: Option<i32>,
    /// Why the last attempt failed, while it fails.
    pub last_error: Option<String>,
    /// Since when attempts fail, while they do.
    pub failing_since: Option<DateTime<Utc>>,
}

/// Whether `ip` is inside a network (loopback, private, link-local, …)
/// that a tenant must not make the server call.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64.0.0/10
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Whether `raw` follows the webhook URL rule the schema states
/// (`zekka_platform::input::WebhookUrl`): `http(s)://`, a host name of
/// letters, digits, dots and dashes whose last label is letters (so no IP
/// literal and nothing the URL standard reads as one), an optional port up
/// to 65535, then a path, query or fragment without spaces or control
/// characters.
pub fn follows_url_rule(raw: &str) -> bool {
    let Some(rest) = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
    else {
        return false;
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let labels: Vec<&str> = host.split('.').collect();
    let Some((last, leading)) = labels.split_last() else {
        return false;
    };
    let host_ok = !last.is_empty()
        && last.chars().all(|c| c.is_ascii_alphabetic())
        && leading
            .iter()
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len())
            && port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u16>().is_ok()
    });
    let tail_ok = !tail.chars().any(|c| c.is_whitespace() || c.is_control());
    host_ok && port_ok && tail_ok
}

/// The field errors of `webhook`, all of them.
fn check(state: &CommandState, webhook: &NewWebhook) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let parsed = reqwest::Url::parse(&webhook.url);
    match parsed {
        Ok(url) if follows_url_rule(&webhook.url) && webhook.url.chars().count() <= MAX_URL_CHARS => {
            let host = url.host_str().unwrap_or_default();
            let local = host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost");
            if local && !state.config.webhook_allow_private_targets {
                errors.push(FieldError::new(
                    "url",
                    "must not point at a loopback, private or link-local address",
                ));
            }
        }
        _ => errors.push(FieldError::new(
            "url",
            "must be an http or https URL with a host name (no IP address, no user info), at most 2048 characters",
        )),
    }
    if webhook.events.is_empty() {
        errors.push(FieldError::new("events", "must name at least one message type"));
    }
    if let Some(unknown) = webhook.events.iter().find(|kind| !KINDS.contains(&kind.as_str())) {
        errors.push(FieldError::new(
            "events",
            format!("unknown message type {unknown:?}; one of: {}", KINDS.join(", ")),
        ));
    }
    let secret_chars = webhook.secret.chars().count();
    if !(SECRET_CHARS.0..=SECRET_CHARS.1).contains(&secret_chars)
        || webhook.secret.chars().any(char::is_control)
    {
        errors.push(FieldError::new(
            "secret",
            "must be 16 to 256 characters, without control characters",
        ));
    }
    errors
}

/// Adds a webhook to `project_id` as `actor`; its id.
///
/// # Errors
/// 422 naming every bad field; 404 for a stranger; 403 below admin; 409
/// at the limit or in an archived project.
pub async fn add(
    state: &CommandState,
    project_id: Uuid,
    actor: Uuid,
    webhook: NewWebhook,
    context: &CommandContext,
) -> Result<(Uuid, ConsistencyToken), AppError> {
    // Decided before anything is written: a refused caller's URL is never
    // in the table, not even for a moment.
    let standing = access::project_access(state, project_id, actor).await?;
    match standing.role {
        None => return Err(AppError::not_found("project not found")),
        Some(role) if !role.can_manage() => {
            return Err(AppError::forbidden(
                "only the project's owners and admins add webhooks",
            ));
        }
        Some(_) if standing.project_archived => return Err(AppError::conflict("the project is archived")),
        Some(_) => {}
    }
    let errors = check(state, &webhook);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let mut events = webhook.events.clone();
    events.sort();
    events.dedup();
    let webhook_id = Uuid::now_v7();
    // The row first, so no delivery is missed for an event just after the
    // addition; taken back when the project refuses it.
    sqlx::query(
        "INSERT INTO webhooks (webhook_id, project_id, url, events, secret, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(webhook_id)
    .bind(project_id)
    .bind(&webhook.url)
    .bind(&events)
    .bind(&webhook.secret)
    .bind(actor)
    .execute(&state.pool)
    .await?;
    let command = ProjectCommand::AddWebhook {
        actor,
        webhook_id,
        url: webhook.url,
        events,
    };
    match dispatch::execute(
        &state.projects,
        &project_id.to_string(),
        command,
        "AddWebhook",
        context,
    )
    .await
    {
        Ok(token) => Ok((webhook_id, token)),
        Err(error) => {
            sqlx::query("DELETE FROM webhooks WHERE webhook_id = $1")
                .bind(webhook_id)
                .execute(&state.pool)
                .await?;
            Err(error)
        }
    }
}

/// Removes `webhook_id` of `project_id` as `actor`: nothing more is
/// delivered to it, and what waited is dropped.
///
/// # Errors
/// 404 for a stranger or an unknown webhook; 403 below admin.
pub async fn remove(
    state: &CommandState,
    project_id: Uuid,
    actor: Uuid,
    webhook_id: Uuid,
    context: &CommandContext,
) -> Result<ConsistencyToken, AppError> {
    let command = ProjectCommand::RemoveWebhook { actor, webhook_id };
    let token = dispatch::execute(
        &state.projects,
        &project_id.to_string(),
        command,
        "RemoveWebhook",
        context,
    )
    .await?;
    sqlx::query("UPDATE webhooks SET removed_at = coalesce(removed_at, now()) WHERE webhook_id = $1 AND project_id = $2")
        .bind(webhook_id)
        .bind(project_id)
        .execute(&state.pool)
        .await?;
    sqlx::query("DELETE FROM webhook_outbox WHERE webhook_id = $1")
        .bind(webhook_id)
        .execute(&state.pool)
        .await?;
    Ok(token)
}

/// The active webhooks of `project_id`, for `actor` (owners and admins).
///
/// # Errors
/// 404 for a stranger; 403 below admin.
pub async fn list(state: &CommandState, project_id: Uuid, actor: Uuid) -> Result<Vec<WebhookView>, AppError> {
    let standing = access::project_access(state, project_id, actor).await?;
    match standing.role {
        None => return Err(AppError::not_found("project not found")),
        Some(role) if !role.can_manage() => {
            return Err(AppError::forbidden(
                "only the project's owners and admins see its webhooks",
            ));
        }
        Some(_) => {}
    }
    let client = state.lookup_connection().await?;
    let rows = client
        .query(
            "SELECT w.webhook_id, w.url, w.events, w.created_at, w.delivered,
                    (SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = w.webhook_id),
                    w.last_delivery_at, w.last_status, w.last_error, w.failing_since
               FROM webhooks w
              WHERE w.project_id = $1 AND w.removed_at IS NULL
              ORDER BY w.created_at, w.webhook_id",
            &[&project_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(WebhookView {
                webhook_id: row.try_get(0)?,
                url: row.try_get(1)?,
                events: row.try_get(2)?,
                created_at: row.try_get(3)?,
                delivered: row.try_get(4)?,
                pending: row.try_get(5)?,
                last_delivery_at: row.try_get(6)?,
                last_status: row.try_get(7)?,
                last_error: row.try_get(8)?,
                failing_since: row.try_get(9)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(AppError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_rule_takes_host_names_and_refuses_what_the_url_standard_would_read_otherwise() {
        for good in [
            "https://hooks.example.com/zekka",
            "http://localhost:65535/hook?x=1#y",
            "https://a-b.c",
            "http://relay/",
        ] {
            assert!(follows_url_rule(good), "{good}");
        }
        for bad in [
            "ftp://example.com",
            "http://127.0.0.1/hook",
            "http://[::1]/hook",
            "http://a.0xb",
            "http://example.999",
            "http://user:pass@example.com",
            "http://example.com:65536",
            "http://example.com:",
            "http://.com",
            "http://ex ample.com",
            "http://example.com/a b",
            "http://",
        ] {
            assert!(!follows_url_rule(bad), "{bad}");
        }
    }

    #[test]
    fn internal_networks_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().expect("an address")), "{internal}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_internal(public.parse().expect("an address")), "{public}");
        }
    }
}
