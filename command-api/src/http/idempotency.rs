//! `Idempotency-Key` (CONTRACT.md): a write sent with a key keeps its answer
//! for 24 hours. The same key with the same request (method, path, body)
//! gets the first answer again and appends nothing; the same key with
//! another request is a 422. Two requests racing with one key: the first
//! claims it, the second waits for its answer. Server errors (5xx) are not
//! kept, so the client may retry them with the same key.
//!
//! Keys belong to the principal that sent them (security review F6): the
//! caller is authenticated here, before anything is claimed or replayed, as
//! the route would (revocation included, on every replay too), and keys
//! live in that person's or that API key's own space. A request without
//! credentials, or to a route whose answer carries credentials (sign-in,
//! token refresh, a new API key's secret), is not kept at all: no one else
//! can replay or claim it, and no token is ever stored.

use std::time::Duration;

use poem::http::{HeaderName, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zekka_domain::FieldError;
use zekka_event_store::database::ReadPool;
use zekka_platform::Problem;
use zekka_platform::auth::{self, Principal};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// How long an answer is kept.
const KEPT: &str = "24 hours";
/// How long a request waits for a racing request with the same key.
const WAIT: Duration = Duration::from_secs(10);
/// The longest key accepted.
const MAX_KEY: usize = 200;
/// Response headers kept with the answer.
const KEPT_HEADERS: [&str; 3] = ["content-type", "x-consistency-token", "location"];

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Whether the answer to `method path` carries credentials (tokens, a new
/// API key's secret), which are never stored.
fn answer_carries_credentials(method: &Method, path: &str) -> bool {
    path.starts_with("/api/v1/auth/") || (*method == Method::POST && path.ends_with("/api-keys"))
}

/// Whose keys an authenticated request uses: the person's, or the API key's.
fn scope_of(principal: &Principal) -> String {
    match principal {
        Principal::Person(claims) => format!("user:{}", claims.user_id),
        Principal::Key(grant) => format!("key:{}", grant.key_id),
    }
}

fn stored_response(status: i32, headers: Option<Value>, body: Option<Vec<u8>>) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(u16::try_from(status).unwrap_or(500)).unwrap_or(StatusCode::OK))
        .header("idempotent-replayed", "true");
    if let Some(Value::Object(headers)) = headers {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                response = response.header(name, value);
            }
        }
    }
    response.body(body.unwrap_or_default())
}

/// Runs `next` at most once per key and request.
///
/// # Errors
/// 422 for a key reused with another request or malformed, 409 when the
/// first request with the key is still running after a wait, 503 when the
/// database is down; otherwise what `next` answers.
pub async fn idempotent<E: Endpoint>(next: E, mut req: Request, pool: ReadPool) -> poem::Result<Response> {
    let Some(key) = req.headers().get(HEADER).map(|v| v.to_str().map(str::to_owned)) else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    if !is_write(req.method()) || answer_carries_credentials(req.method(), req.uri().path()) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let key = match key {
        Ok(key) if !key.trim().is_empty() && key.len() <= MAX_KEY => key,
        _ => {
            return Err(Problem::invalid_field(FieldError::new(
                "Idempotency-Key",
                "must be 1 to 200 visible characters",
            ))
            .into());
        }
    };
    // Authenticated first, on every request with a key, replays included:
    // a logged-out token or a revoked API key gets 401 here, not an answer.
    let Some(principal) = auth::authenticate(&req).await? else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let scope = scope_of(&principal);
    let body = req.take_body().into_bytes().await?;
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.uri().path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&body);
    let hash = hasher.finalize().to_vec();
    req.set_body(body);

    let client = pool.get().await.map_err(Problem::from_pool)?;
    client
        .execute(
            &format!(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2
                  AND (created_at < now() - interval '{KEPT}'
                       -- A first request that never finished (its process died).
                       OR (status IS NULL AND created_at < now() - interval '2 minutes'))"
            ),
            &[&scope, &key],
        )
        .await
        .map_err(Problem::from_db)?;
    let claimed = client
        .execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
             ON CONFLICT (scope, key) DO NOTHING",
            &[&scope, &key, &hash],
        )
        .await
        .map_err(Problem::from_db)?
        == 1;
    // No connection is held while the request runs or waits: the handler
    // needs the same pool.
    drop(client);
    if !claimed {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let client = pool.get().await.map_err(Problem::from_pool)?;
            let row = client
                .query_opt(
                    "SELECT request_hash, status, headers, body FROM idempotency_keys WHERE scope = $1 AND key = $2",
                    &[&scope, &key],
                )
                .await
                .map_err(Problem::from_db)?;
            let Some(row) = row else {
                // The first request failed (5xx) and let the key go: retry.
                return Box::pin(idempotent(next, req, pool.clone())).await;
            };
            let first: Vec<u8> = row.try_get(0).map_err(Problem::from_db)?;
            if first != hash {
                return Err(Problem::invalid_field(FieldError::new(
                    "Idempotency-Key",
                    "was already used for another request",
                ))
                .into());
            }
            if let Some(status) = row.try_get::<_, Option<i32>>(1).map_err(Problem::from_db)? {
                return Ok(stored_response(
                    status,
                    row.try_get(2).map_err(Problem::from_db)?,
                    row.try_get(3).map_err(Problem::from_db)?,
                ));
            }
            drop(client);
            if tokio::time::Instant::now() > deadline {
                return Err(
                    Problem::conflict("a request with this Idempotency-Key is still being answered").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    let status = response.status();
    let client = pool.get().await.map_err(Problem::from_pool)?;
    if status.is_server_error() {
        client
            .execute(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2",
                &[&scope, &key],
            )
            .await
            .map_err(Problem::from_db)?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = body.into_bytes().await?;
    let mut headers = Map::new();
    for name in KEPT_HEADERS {
        if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
            headers.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    }
    client
        .execute(
            "UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 WHERE scope = $1 AND key = $2",
            &[
                &scope,
                &key,
                &i32::from(status.as_u16()),
                &Value::Object(headers),
                &body.to_vec(),
            ],
        )
        .await
        .map_err(Problem::from_db)?;
    Ok(Response::from_parts(parts, body.into()))
}
