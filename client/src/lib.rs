//! A small HTTP/1.1 client for Zekka's public API: one keep-alive connection
//! whose requests go one after another over the same socket, as a browser or
//! an agent process sends them. The benchmarks drive load with it and
//! `zekka demo` fills a running backend through it; neither needs more than
//! plain HTTP on a trusted network, so there is no TLS here.
//!
//! # Layout
//! - [`resolve`]: an `http://host:port` base URL to a socket address.
//! - [`Connection`]: open, send a request, read the whole answer.
//! - [`Answer`]: status, headers and body, with [`Answer::json`] to check the
//!   status and parse the body in one step.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, RETRY_AFTER};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

pub use hyper::Method;

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not `http://host[:port]`.
    #[error("`{0}` is not an http://host:port URL (https is not supported by this client)")]
    Url(String),
    /// The host name did not resolve, or the server is not listening.
    #[error("cannot reach {target}")]
    Connect {
        /// What was being reached.
        target: String,
        /// Why not.
        source: std::io::Error,
    },
    /// The HTTP exchange failed (connection closed, malformed answer).
    #[error("HTTP exchange failed")]
    Http(#[from] hyper::Error),
    /// The request could not be built (an invalid header value).
    #[error("invalid request")]
    Request(#[from] hyper::http::Error),
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

/// Resolves a base URL such as `http://localhost:8080` (a path after the
/// authority is ignored; the port defaults to 80).
///
/// # Errors
/// [`ClientError::Url`] for anything but `http://`, [`ClientError::Connect`]
/// when the host does not resolve.
pub async fn resolve(base_url: &str) -> Result<SocketAddr, ClientError> {
    let rest = base_url
        .strip_prefix("http://")
        .ok_or_else(|| ClientError::Url(base_url.to_owned()))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(ClientError::Url(base_url.to_owned()));
    }
    let target = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let looked_up = tokio::net::lookup_host(target.clone()).await;
    let first = match looked_up {
        Ok(mut addresses) => addresses.next(),
        Err(source) => return Err(ClientError::Connect { target, source }),
    };
    first.ok_or(ClientError::Connect {
        target,
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
    })
}

/// A connection to the server.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
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
    /// Opens a connection to `addr`.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub async fn open(addr: SocketAddr) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect {
                target: addr.to_string(),
                source,
            })?;
        stream.set_nodelay(true).map_err(|source| ClientError::Connect {
            target: addr.to_string(),
            source,
        })?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped or the server
            // closes it; the next `send` reports the latter.
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            host: addr.to_string(),
        })
    }

    /// Sends one request and reads the whole answer.
    ///
    /// # Errors
    /// When the connection fails.
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
    /// When the connection fails or a header is invalid.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        json: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match json {
            Some(value) => {
                request = request.header("content-type", "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        self.sender.ready().await?;
        let response = self.sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
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

    #[tokio::test]
    async fn base_urls_resolve_with_or_without_a_port() {
        assert_eq!(
            resolve("http://127.0.0.1:8080").await.ok(),
            Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert_eq!(
            resolve("http://127.0.0.1/api").await.ok(),
            Some(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
    }

    #[tokio::test]
    async fn anything_but_plain_http_is_refused() {
        for bad in ["https://example.com", "localhost:8080", "http://", "ftp://x"] {
            assert!(matches!(resolve(bad).await, Err(ClientError::Url(_))), "{bad}");
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
