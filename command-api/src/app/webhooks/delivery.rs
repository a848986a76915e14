//! The deliverer: sends each webhook's queue head, signed, and deletes it
//! once the receiver answered 2xx; a failure leaves it at the head, retried
//! with back-off (0.5 s doubling to 5 min), so deliveries arrive at least
//! once and in order per webhook. Webhooks are served side by side: a slow
//! or dead receiver holds up only its own queue.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;
use uuid::Uuid;
use zekka_platform::metrics::METRICS;
use zekka_platform::shutdown::Shutdown;

use super::registry::is_internal;
use crate::app::error::AppError;
use crate::app::state::CommandState;

/// Webhooks delivered to at once.
const CONCURRENCY: usize = 4;

/// Queue heads looked at per round.
const HEADS: i64 = 64;

/// Deliveries sent to one webhook per turn before others get theirs.
const PER_TURN: usize = 50;

/// How often it looks without a wake-up (retries come due on their own).
const POLL: Duration = Duration::from_millis(250);

/// The signature header: `sha256=<hex HMAC-SHA-256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Zekka-Signature";

/// `sha256=<hex>` of `body` under `secret` (`None` only if the HMAC
/// implementation refused the key, which it does for no length).
pub fn signature(secret: &str, body: &[u8]) -> Option<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(body);
    Some(format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
}

/// The pause before attempt `attempts + 1` after `attempts` failures.
pub fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::from_millis(500u64.saturating_mul(1 << doublings)).min(Duration::from_secs(300))
}

/// Delivers until `shutdown`, woken by `queued` when the outbox enqueued.
pub async fn run(state: Arc<CommandState>, queued: Arc<Notify>, mut shutdown: Shutdown) {
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(state.config.webhook_timeout)
        .user_agent(concat!("Zekka-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "no HTTP client for webhooks: nothing is delivered");
            return;
        }
    };
    loop {
        if let Err(error) = deliver_due(&state, &http).await {
            tracing::warn!(%error, "webhook deliveries failed; retrying");
        }
        tokio::select! {
            () = shutdown.wait() => break,
            () = queued.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Delivers the heads that are due; how many deliveries were taken.
///
/// # Errors
/// When the database fails.
pub async fn deliver_due(state: &CommandState, http: &reqwest::Client) -> Result<usize, AppError> {
    let client = state.lookup_connection().await?;
    let due: Vec<Uuid> = client
        .query(
            "SELECT webhook_id FROM (
                 SELECT DISTINCT ON (webhook_id) webhook_id, next_attempt_at
                   FROM webhook_outbox ORDER BY webhook_id, id) head
              WHERE next_attempt_at <= now() LIMIT $1",
            &[&HEADS],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    drop(client);
    let outcomes: Vec<Result<usize, AppError>> = futures_util::stream::iter(due)
        .map(|webhook| deliver_queue(state, http, webhook))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut taken = 0;
    for outcome in outcomes {
        taken += outcome?;
    }
    Ok(taken)
}

/// An advisory-lock key per webhook, so one process delivers its queue at a time.
fn lease_key(webhook: Uuid) -> i64 {
    let (high, low) = webhook.as_u64_pair();
    i64::from_ne_bytes((high ^ low ^ 0x7a65_6b6b_6177_6862).to_ne_bytes())
}

/// Delivers `webhook`'s queue from its head while its receiver takes them.
async fn deliver_queue(
    state: &CommandState,
    http: &reqwest::Client,
    webhook: Uuid,
) -> Result<usize, AppError> {
    let mut taken = 0;
    while taken < PER_TURN {
        if !deliver_head(state, http, webhook).await? {
            break;
        }
        taken += 1;
    }
    Ok(taken)
}

/// Why a delivery failed, for `GET …/webhooks`.
struct Failure {
    status: Option<i32>,
    error: String,
}

/// Sends one delivery; `Ok` with the receiver's 2xx status.
async fn send(
    state: &CommandState,
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    kind: &str,
    id: i64,
    body: String,
) -> Result<i32, Failure> {
    let failure = |status: Option<i32>, error: String| Failure { status, error };
    let parsed = reqwest::Url::parse(url).map_err(|error| failure(None, error.to_string()))?;
    if !state.config.webhook_allow_private_targets {
        // The name may have moved since the webhook was added.
        let host = parsed
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|error| failure(None, format!("cannot resolve {host}: {error}")))?
                .collect(),
        };
        if addresses.iter().any(|address| is_internal(address.ip())) {
            return Err(failure(
                None,
                format!("{host} resolves to an internal address: refused"),
            ));
        }
    }
    let signed = signature(secret, body.as_bytes())
        .ok_or_else(|| failure(None, "the secret cannot key an HMAC".to_owned()))?;
    let answer = http
        .post(parsed)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, signed)
        .header("X-Zekka-Event", kind)
        .header("X-Zekka-Delivery", id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|error| failure(None, error.to_string()))?;
    let status = i32::from(answer.status().as_u16());
    if answer.status().is_success() {
        Ok(status)
    } else {
        Err(failure(Some(status), format!("the receiver answered {status}")))
    }
}

/// Delivers `webhook`'s head if it is due; whether it was taken.
async fn deliver_head(state: &CommandState, http: &reqwest::Client, webhook: Uuid) -> Result<bool, AppError> {
    let mut client = state.reads.get().await?;
    let tx = client.transaction().await?;
    let leased: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&lease_key(webhook)])
        .await?
        .try_get(0)?;
    if !leased {
        return Ok(false);
    }
    let Some(head) = tx
        .query_opt(
            "SELECT o.id, o.kind, o.body, o.attempts, o.next_attempt_at <= now(), w.url, w.secret
               FROM webhook_outbox o JOIN webhooks w USING (webhook_id)
              WHERE o.webhook_id = $1 AND w.removed_at IS NULL
              ORDER BY o.id LIMIT 1",
            &[&webhook],
        )
        .await?
    else {
        return Ok(false);
    };
    if !head.try_get::<_, bool>(4)? {
        return Ok(false);
    }
    let (id, kind, body, attempts): (i64, String, String, i32) = (
        head.try_get(0)?,
        head.try_get(1)?,
        head.try_get(2)?,
        head.try_get(3)?,
    );
    let (url, secret): (String, String) = (head.try_get(5)?, head.try_get(6)?);
    let taken = match send(state, http, &url, &secret, &kind, id, body).await {
        Ok(status) => {
            tx.execute("DELETE FROM webhook_outbox WHERE id = $1", &[&id])
                .await?;
            tx.execute(
                "UPDATE webhooks SET delivered = delivered + 1, last_delivery_at = now(), last_status = $2,
                        last_error = NULL, failing_since = NULL
                  WHERE webhook_id = $1",
                &[&webhook, &status],
            )
            .await?;
            true
        }
        Err(failure) => {
            METRICS.webhook_deliveries.with_label_values(&["failed"]).inc();
            let pause = backoff(attempts + 1).as_secs_f64();
            tx.execute(
                "UPDATE webhook_outbox
                    SET attempts = attempts + 1, last_error = $2,
                        next_attempt_at = now() + make_interval(secs => $3)
                  WHERE id = $1",
                &[&id, &failure.error, &pause],
            )
            .await?;
            tx.execute(
                "UPDATE webhooks SET last_status = $2, last_error = $3, failing_since = coalesce(failing_since, now())
                  WHERE webhook_id = $1",
                &[&webhook, &failure.status, &failure.error],
            )
            .await?;
            tracing::debug!(%webhook, error = %failure.error, "webhook delivery failed; retrying later");
            false
        }
    };
    tx.commit().await?;
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?").as_deref(),
            Some("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    #[test]
    fn the_back_off_doubles_from_half_a_second_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(20), Duration::from_secs(300));
    }
}
