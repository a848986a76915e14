//! Zekka's public API as the benchmarks and `zekka demo` call it, on
//! `reqwest` (rustls, so an `https://` backend works as well as `http://`).
//! A [`Connection`] is one virtual user: a client of its own whose requests
//! go one after another over one keep-alive connection, as a browser tab or
//! an agent process sends them, so a benchmark's connection count is the
//! server's.
//!
//! # Layout
//! - [`Server`]: a backend's base URL, checked once.
//! - [`Connection`]: send a request, read the whole answer.
//! - [`Answer`]: status, headers and body, with [`Answer::json`] to check the
//!   status and parse the body in one step.
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, Url};
use serde_json::Value;

pub use reqwest::Method;

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not `http(s)://host[:port]`.
    #[error("`{0}` is not an http:// or https:// URL")]
    Url(String),
    /// The exchange failed: the server is not listening, the connection
    /// closed, TLS failed, a header was invalid.
    #[error("HTTP exchange failed")]
    Http(#[from] reqwest::Error),
    /// The server answered with an unexpected status.
    #[error("{what} answered {status}: {body}")]
    Status {
        /// The request, as the caller named it.
        what: String,
        /// The status received.
        status: u16,
        /// The body received (a problem document, usually).
        body: String,
    },
    /// The body is not the JSON expected.
    #[error("{what} answered with a body that is not JSON")]
    Json {
        /// The request, as the caller named it.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// A backend's base URL, such as `http://localhost:8080` (a path after the
/// authority is ignored: requests name their own from the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    base: Url,
}

impl FromStr for Server {
    type Err = ClientError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let refused = || ClientError::Url(raw.to_owned());
        let mut base = Url::parse(raw).map_err(|_| refused())?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none_or(str::is_empty) {
            return Err(refused());
        }
        base.set_path("/");
        base.set_query(None);
        Ok(Self { base })
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base.as_str().trim_end_matches('/'))
    }
}

impl Server {
    /// The WebSocket URL of `path` on this server (`ws://`, or `wss://` for https).
    pub fn websocket_url(&self, path: &str) -> String {
        let scheme = if self.base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        let host = self.base.host_str().unwrap_or_default();
        let port = self
            .base
            .port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default();
        format!("{scheme}://{host}{port}{path}")
    }

    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base
            .join(path)
            .map_err(|_| ClientError::Url(path.to_owned()))
    }
}

/// A connection to the server: one virtual user.
pub struct Connection {
    client: Client,
    server: Server,
}

/// A response's status, headers and body.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON when the status is `expected`, else an error naming
    /// `what` with the status and body received.
    ///
    /// # Errors
    /// [`ClientError::Status`] or [`ClientError::Json`].
    pub fn json(&self, expected: u16, what: &str) -> Result<Value, ClientError> {
        if self.status != expected {
            return Err(ClientError::Status {
                what: what.to_owned(),
                status: self.status,
                body: String::from_utf8_lossy(&self.body).into_owned(),
            });
        }
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|source| ClientError::Json {
            what: what.to_owned(),
            source,
        })
    }

    /// How long a `429` or `503` asks the client to wait (`Retry-After` in
    /// seconds), if it does.
    pub fn retry_after(&self) -> Option<Duration> {
        if !matches!(self.status, 429 | 503) {
            return None;
        }
        let seconds = self
            .headers
            .get(RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(Duration::from_secs(seconds))
    }
}

impl Connection {
    /// A virtual user of `server`: the connection opens with the first
    /// request and is kept alive between requests (reopened if the server
    /// closes it).
    ///
    /// # Errors
    /// When the TLS set-up cannot be built.
    pub fn open(server: &Server) -> Result<Self, ClientError> {
        let client = Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            server: server.clone(),
        })
    }

    /// Sends one request and reads the whole answer.
    ///
    /// # Errors
    /// When the exchange fails.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        json: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        self.send_with(method, path, bearer, &[], json).await
    }

    /// [`Connection::send`] with extra headers (`X-Consistency-Token`, say).
    ///
    /// # Errors
    /// When the exchange fails or a header is invalid.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        json: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let mut request = self.client.request(method, self.server.url(path)?);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(value) = json {
            request = request.json(value);
        }
        Self::exchange(request).await
    }

    /// Sends `body` as the raw request body with `content_type` (a file's
    /// bytes: a source upload).
    ///
    /// # Errors
    /// When the exchange fails.
    pub async fn send_bytes(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        content_type: &str,
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let mut request = self.client.request(method, self.server.url(path)?);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        Self::exchange(request).await
    }

    async fn exchange(request: reqwest::RequestBuilder) -> Result<Answer, ClientError> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_scheme_and_authority_only() {
        let server: Server = "http://127.0.0.1:8080/api?x=1".parse().expect("a URL");
        assert_eq!(server.to_string(), "http://127.0.0.1:8080");
        assert_eq!(
            server.url("/api/v1/healthz").map(String::from).ok().as_deref(),
            Some("http://127.0.0.1:8080/api/v1/healthz")
        );
        assert_eq!(
            server.websocket_url("/api/v1/ws"),
            "ws://127.0.0.1:8080/api/v1/ws"
        );
        let secure: Server = "https://zekka.example".parse().expect("a URL");
        assert_eq!(secure.websocket_url("/ws"), "wss://zekka.example/ws");
    }

    #[test]
    fn anything_but_http_or_https_is_refused() {
        for bad in ["localhost:8080", "http://", "ftp://x", "127.0.0.1:8080"] {
            assert!(matches!(bad.parse::<Server>(), Err(ClientError::Url(_))), "{bad}");
        }
    }

    #[test]
    fn an_unexpected_status_names_the_request_and_the_body() {
        let answer = Answer {
            status: 422,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{\"title\":\"invalid\"}"),
        };
        let error = answer.json(201, "create project").err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("create project answered 422: {\"title\":\"invalid\"}")
        );
    }
}
