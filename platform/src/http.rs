//! What every service's HTTP side has: request ids, a tracing span and
//! metrics per request, problem+json for every error, and the operational
//! routes (`/healthz`, `/readyz`, `/metrics`).

use std::sync::Arc;
use std::time::Instant;

use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{Endpoint, IntoResponse, Request, Response, Route, get, handler};
use poem_openapi::OperationId;
use tracing::Instrument;
use uuid::Uuid;

use crate::metrics::METRICS;
use crate::problem::Problem;
use crate::redis::{self, RedisClient};
use zekka_domain::FieldError;
use zekka_event_store::database::{self, ReadPool};

/// The header that carries a request's correlation id.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// The correlation id of the current request: the client's `X-Request-Id`
/// when it sent a sensible one, else a fresh UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Who sent the current request, for event metadata and rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The peer address (or the first `X-Forwarded-For` hop, when trusted).
    pub ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// The client address of `req` (as [`ClientInfo`] worked it out), the key of
/// per-address rate limits.
pub fn client_ip(req: &Request) -> String {
    req.data::<ClientInfo>()
        .and_then(|c| c.ip.clone())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn request_id_of(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}

/// How many trusted reverse proxies append to `X-Forwarded-For` in front
/// of this process (0: believe no header; otherwise any client could pick
/// the address its rate limits count against and the audit records).
#[derive(Debug, Clone, Copy)]
pub struct ProxyTrust(pub usize);

/// The client's address in an `X-Forwarded-For` value that `hops` trusted
/// proxies appended to: the entry `hops` places from the right. What lies
/// further left came from the client and is ignored; a header with fewer
/// entries than trusted proxies names no one.
pub fn forwarded_client(header: &str, hops: usize) -> Option<std::net::IpAddr> {
    if hops == 0 {
        return None;
    }
    let entries: Vec<&str> = header.split(',').map(str::trim).collect();
    let index = entries.len().checked_sub(hops)?;
    entries.get(index)?.parse().ok()
}

fn client_info_of(req: &Request) -> ClientInfo {
    let hops = req.data::<ProxyTrust>().map_or(0, |t| t.0);
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let forwarded = forwarded_client(&forwarded, hops).map(|ip| ip.to_string());
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip().to_string());
    ClientInfo {
        ip: forwarded.or(peer),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect()),
    }
}

/// Turns any error into a problem+json response. Problems raised by handlers
/// keep their status and detail; errors from poem and poem-openapi (bad JSON,
/// a malformed path parameter, a missing token, an unknown route) get their
/// status and a description.
///
/// The OpenAPI operation id, when the error carries one, moves to the
/// response, so metrics label the request by its route either way.
pub fn render_problem(error: poem::Error) -> Response {
    let operation = error.data::<OperationId>().copied();
    let mut response = problem_of(error);
    if let Some(operation) = operation {
        response.set_data(operation);
    }
    response
}

fn problem_of(error: poem::Error) -> Response {
    if error.is::<Problem>() {
        return error.into_response();
    }
    let status = error.status();
    let detail = match status {
        StatusCode::UNAUTHORIZED => "missing or invalid access token".to_owned(),
        StatusCode::NOT_FOUND => "no such resource".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this resource".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
        s if s.is_server_error() => {
            tracing::error!(%error, "unhandled server error");
            "an internal error occurred; it has been logged".to_owned()
        }
        _ => error.to_string(),
    };
    Problem::new(status, detail).into_response()
}

/// The middleware every route runs through: request id, client info, a
/// tracing span, problem+json rendering and the request metrics (labelled by
/// the OpenAPI operation id, so label values stay bounded).
pub async fn observe<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let request_id = request_id_of(&req);
    let client = client_info_of(&req);
    req.set_data(RequestId(request_id.clone()));
    req.set_data(client);
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        method = %method,
        path = %req.uri().path(),
        request_id = %request_id,
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let outcome = next.call(req).instrument(span.clone()).await;
    let (route, mut response) = match outcome {
        Ok(response) => {
            let response = response.into_response();
            (response.data::<OperationId>().map(|id| id.0), response)
        }
        Err(error) => (error.data::<OperationId>().map(|id| id.0), render_problem(error)),
    };
    let status = response.status();
    let route = route.unwrap_or(if status == StatusCode::NOT_FOUND {
        "unmatched"
    } else {
        "other"
    });
    span.record("status", status.as_u16());
    METRICS
        .http_requests
        .with_label_values(&[route, &method, status.as_str()])
        .inc();
    METRICS
        .http_duration
        .with_label_values(&[route, &method, status.as_str()])
        .observe(started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// Refuses request bodies over `max_bytes`: 413 when `Content-Length` says
/// so up front; a body sent without a length is cut at the limit (and then
/// fails to parse, so it changes nothing).
pub async fn limit_body<E: Endpoint>(next: E, mut req: Request, max_bytes: u64) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_bytes => {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {max_bytes} bytes"),
            )
            .into());
        }
        Some(_) => {}
        None => {
            use tokio::io::AsyncReadExt;
            let body = req.take_body().into_async_read().take(max_bytes);
            req.set_body(poem::Body::from_async_read(body));
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Refuses a request whose path or query parameters hold a control
/// character (NUL, the other C0/C1 controls; tab and line breaks too, which
/// no path segment or parameter needs) once percent-decoded: 400 for the
/// path, 422 naming the parameter. No handler, query or log line ever sees
/// one (security review F15), whatever route it is.
pub async fn refuse_control_characters<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy();
    if path.chars().any(char::is_control) {
        return Err(Problem::bad_request("the path must not contain control characters").into());
    }
    if let Some(query) = req.uri().query() {
        let issues: Vec<FieldError> = form_urlencoded::parse(query.as_bytes())
            .filter(|(name, value)| name.chars().chain(value.chars()).any(char::is_control))
            .map(|(name, _)| {
                let name: String = name.chars().filter(|c| !c.is_control()).collect();
                FieldError::new(name, "must not contain control characters")
            })
            .collect();
        if !issues.is_empty() {
            return Err(Problem::invalid(issues.into_iter().map(Into::into).collect()).into());
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Reads a write sent with no body and no `Content-Type` as an empty JSON
/// body, so a bare `POST /auth/logout` is answered by the route (which
/// takes an optional body) rather than refused 415 while the session lives
/// on (security review F14). A route that needs a body still says so (400).
pub async fn bodiless_is_json<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let headers = req.headers();
    let bodiless = !headers.contains_key(poem::http::header::CONTENT_TYPE)
        && !headers.contains_key(poem::http::header::TRANSFER_ENCODING)
        && headers
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0");
    if bodiless && *req.method() != poem::http::Method::GET && *req.method() != poem::http::Method::HEAD {
        req.headers_mut().insert(
            poem::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Answers 503 when a request takes longer than `limit` (the work is dropped;
/// a command that had already committed stays committed).
pub async fn time_limit<E: Endpoint>(
    next: E,
    req: Request,
    limit: std::time::Duration,
) -> poem::Result<Response> {
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(result) => result.map(IntoResponse::into_response),
        Err(_) => Err(Problem::unavailable("the request took too long; retry shortly", 1).into()),
    }
}

/// The Content-Security-Policy of the interactive docs page (Swagger UI
/// needs its inline script and styles).
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";
/// The Content-Security-Policy of everything else: JSON, never rendered.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Security headers on every response: no MIME sniffing, no framing, no
/// referrer, a strict CSP (a looser one for `/docs`), no caching of API
/// answers, and HSTS when the request came over TLS through a trusted proxy.
pub async fn security_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let docs = req.uri().path().starts_with("/docs");
    let https = req.data::<ProxyTrust>().is_some_and(|t| t.0 > 0)
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(error) => render_problem(error),
    };
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(if docs { DOCS_CSP } else { API_CSP }),
    );
    if !docs && !headers.contains_key("cache-control") {
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    headers.remove("server");
    Ok(response)
}

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    /// The read pool (also proves migrations are applied).
    pub database: ReadPool,
    /// Redis, when configured.
    pub redis: Option<RedisClient>,
    /// The read replica the query API reads, when configured
    /// (`DATABASE_READ_URL`): reads fail while it is unreachable.
    pub replica: Option<ReadPool>,
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(req: &Request, Data(readiness): Data<&Arc<Readiness>>) -> Response {
    let wants_json = req
        .headers()
        .get(poem::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    if wants_json {
        return readiness_report(readiness).await;
    }
    if let Err(error) = database::check_ready(&readiness.database).await {
        return Problem::unavailable(format!("PostgreSQL is not ready: {error:#}"), 2).into_response();
    }
    if let Some(replica) = &readiness.replica
        && let Err(error) = database::check_ready(replica).await
    {
        return Problem::unavailable(format!("the read replica is not ready: {error:#}"), 2).into_response();
    }
    if let Some(client) = &readiness.redis
        && let Err(error) = redis::ping(client).await
    {
        return Problem::unavailable(format!("Redis is not ready: {error:#}"), 2).into_response();
    }
    "ready".into_response()
}

/// `/readyz` in detail, for people and dashboards (`Accept:
/// application/json`): each dependency's state, the migrations, and how
/// many projections are behind or stopped. 503 when PostgreSQL, its
/// migrations, the read replica or Redis are not ready; a stopped projection leaves the
/// process serving (`degraded`).
async fn readiness_report(readiness: &Readiness) -> Response {
    let store = database::store_health(&readiness.database).await;
    let redis = match &readiness.redis {
        None => "not_configured".to_owned(),
        Some(client) => match redis::ping(client).await {
            Ok(()) => "ok".to_owned(),
            Err(error) => format!("{error:#}"),
        },
    };
    let (postgres, migrations, projections, migrated) = match &store {
        Ok(health) => (
            "ok".to_owned(),
            serde_json::json!({"applied": health.migration_applied, "expected": health.migration_expected}),
            serde_json::json!({"behind": health.projections_behind, "failed": health.projections_failed}),
            health.migration_applied >= health.migration_expected,
        ),
        Err(error) => (
            format!("{error:#}"),
            serde_json::Value::Null,
            serde_json::Value::Null,
            false,
        ),
    };
    let replica = match &readiness.replica {
        None => "not_configured".to_owned(),
        Some(pool) => match database::check_ready(pool).await {
            Ok(()) => "ok".to_owned(),
            Err(error) => format!("{error:#}"),
        },
    };
    let ready = postgres == "ok"
        && migrated
        && (redis == "ok" || redis == "not_configured")
        && (replica == "ok" || replica == "not_configured");
    let failed = store.as_ref().is_ok_and(|h| h.projections_failed > 0);
    let status = match (ready, failed) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    let body = serde_json::json!({
        "status": status,
        "postgres": postgres,
        "redis": redis,
        "replica": replica,
        "replica_lag_seconds": readiness.replica.as_ref().map(|_| METRICS.replica_lag_seconds.get()),
        "migrations": migrations,
        "projections": projections,
    });
    let mut response = Response::builder()
        .status(if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        })
        .content_type("application/json")
        .body(body.to_string());
    if !ready {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("2"));
    }
    response
}

#[handler]
fn metrics() -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(METRICS.render())
}

/// Adds the operational routes (`/healthz`, `/readyz`, `/metrics`) to
/// `route`. `/readyz` needs an `Arc<Readiness>` in the request data.
pub fn with_ops_routes(route: Route) -> Route {
    route
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics))
}

/// The methods each path of the API answers, from the API's declaration, so
/// a 405 can name them in `Allow` as RFC 9110 requires.
#[derive(Debug, Clone, Default)]
pub struct AllowedMethods(std::sync::Arc<Vec<(Vec<Option<String>>, String)>>);

impl AllowedMethods {
    /// The methods of every `(path template, method)` an API declares
    /// (poem-openapi's `OpenApi::meta()`; `{name}` or `:name` segments are
    /// parameters).
    pub fn from_operations<'a>(operations: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut paths: Vec<(Vec<Option<String>>, Vec<String>)> = Vec::new();
        for (path, method) in operations {
            let segments: Vec<Option<String>> = path
                .trim_matches('/')
                .split('/')
                .map(|segment| {
                    (!segment.starts_with('{') && !segment.starts_with(':')).then(|| segment.to_owned())
                })
                .collect();
            let method = method.to_uppercase();
            match paths.iter_mut().find(|(known, _)| *known == segments) {
                Some((_, methods)) => methods.push(method),
                None => paths.push((segments, vec![method])),
            }
        }
        Self(std::sync::Arc::new(
            paths
                .into_iter()
                .map(|(segments, mut methods)| {
                    methods.sort();
                    methods.dedup();
                    (segments, methods.join(", "))
                })
                .collect(),
        ))
    }

    /// The methods `path` answers: of the templates matching it with the
    /// most literal segments (`/projects/mine` over `/projects/{id}`), all
    /// of them (one path may be written with and without a final `/`).
    pub fn for_path(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let matching: Vec<(usize, &str)> = self
            .0
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(segment, part)| segment.as_deref().is_none_or(|s| s == *part))
            })
            .map(|(segments, methods)| (segments.iter().filter(|s| s.is_some()).count(), methods.as_str()))
            .collect();
        let best = matching.iter().map(|(literal, _)| *literal).max()?;
        let mut methods: Vec<&str> = matching
            .iter()
            .filter(|(literal, _)| *literal == best)
            .flat_map(|(_, methods)| methods.split(", "))
            .collect();
        methods.sort_unstable();
        methods.dedup();
        Some(methods.join(", "))
    }
}

/// Adds `Allow` to a 405, naming the methods the path answers.
pub async fn allow_on_405<E: Endpoint>(
    next: E,
    req: Request,
    allowed: AllowedMethods,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(error) if error.status() == StatusCode::METHOD_NOT_ALLOWED => render_problem(error),
        Err(error) => return Err(error),
    };
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = allowed.for_path(&path)
        && let Ok(value) = poem::http::HeaderValue::from_str(&methods)
    {
        response.headers_mut().insert(poem::http::header::ALLOW, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_entry_the_trusted_proxies_wrote_counted_from_the_right() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().ok();
        // What a client sent comes first; the proxy appended the peer it saw.
        assert_eq!(
            forwarded_client("198.51.100.7, 203.0.113.9", 1),
            ip("203.0.113.9")
        );
        assert_eq!(
            forwarded_client("198.51.100.7, 203.0.113.9, 10.0.0.2", 2),
            ip("203.0.113.9")
        );
        assert_eq!(forwarded_client("203.0.113.9", 1), ip("203.0.113.9"));
        // No trusted proxy: the header is not read at all.
        assert_eq!(forwarded_client("198.51.100.7", 0), None);
        // Fewer entries than trusted proxies, or garbage: no one.
        assert_eq!(forwarded_client("203.0.113.9", 2), None);
        assert_eq!(forwarded_client("not an address", 1), None);
    }
}
