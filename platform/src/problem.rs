//! `application/problem+json` (RFC 9457) errors: the one shape every 4xx and
//! 5xx answer of every service takes.
//!
//! Handlers return `Result<_, Problem>`; errors raised by poem and
//! poem-openapi themselves (malformed JSON, a bad path parameter, a missing
//! token, an unknown route) are turned into problems by [`crate::http::render_problems`].

use std::fmt;

use poem::http::StatusCode;
use poem::http::header::{CONTENT_TYPE, RETRY_AFTER};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use serde::Serialize;
use zekka_domain::error::FieldError;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct FieldIssue {
    /// The JSON field at fault.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl From<FieldError> for FieldIssue {
    fn from(error: FieldError) -> Self {
        Self {
            field: error.field,
            message: error.message,
        }
    }
}

/// The body of a problem answer, as documented in the OpenAPI schema.
#[derive(Debug, Clone, Serialize, Object)]
#[oai(rename = "Problem")]
pub struct ProblemDetails {
    /// A URI naming the kind of problem.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time, for a person to read.
    pub detail: String,
    /// The invalid fields, for validation problems.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldIssue>>,
}

/// An error answer: a status, a human explanation and, for validation, the
/// fields at fault.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldIssue>,
    retry_after: Option<u64>,
    headers: Vec<(&'static str, String)>,
    extensions: Vec<(&'static str, serde_json::Value)>,
}

impl Problem {
    /// A problem with `status` explained by `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            headers: Vec::new(),
            extensions: Vec::new(),
        }
    }

    /// The same problem with an extension member (RFC 9457 §3.2) beside the
    /// standard ones, for details a client acts on.
    pub fn with_extension(mut self, name: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.push((name, value.into()));
        self
    }

    /// The same problem with `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The same problem with one more response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 429: too many requests; retry after `retry_after_seconds`.
    pub fn too_many_requests(detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, detail).retry_after(retry_after_seconds.max(1))
    }

    /// 400: the request cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: no credentials, or credentials that are not valid.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: known, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such thing, or not the caller's to know about.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409: the current state, or a concurrent write, prevents this.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 422: the request is readable but a value is invalid.
    pub fn invalid(errors: Vec<FieldIssue>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => "some fields are invalid; see `errors`".to_owned(),
        };
        Self {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
        }
    }

    /// 422 for one field.
    pub fn invalid_field(error: FieldError) -> Self {
        Self::invalid(vec![error.into()])
    }

    /// 503 with `Retry-After`: a dependency is down or behind.
    pub fn unavailable(detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self {
            retry_after: Some(retry_after_seconds),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
        }
    }

    /// 500: a bug or an unexpected failure. The cause is logged once here
    /// and never shown to the client.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(cause), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an internal error occurred; it has been logged",
        )
    }

    /// A read-side database error: 503 when the database is unreachable or
    /// shutting down, 500 otherwise.
    pub fn from_db(error: tokio_postgres::Error) -> Self {
        use std::error::Error as _;
        use tokio_postgres::error::SqlState;

        let unreachable = error.is_closed()
            || error.source().is_some_and(|s| s.is::<std::io::Error>())
            || error.code().is_some_and(|code| {
                [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
            });
        if unreachable {
            tracing::warn!(error = %ErrorChain(&error), "database unavailable");
            Self::unavailable("the database is unavailable; retry shortly", 2)
        } else {
            Self::internal(&error)
        }
    }

    /// A read-pool error: the database is unreachable or saturated (503).
    pub fn from_pool(error: deadpool_postgres::PoolError) -> Self {
        tracing::warn!(error = %ErrorChain(&error), "database pool unavailable");
        Self::unavailable("the database is unavailable; retry shortly", 2)
    }

    /// A write-side (sqlx) database error: 503 when unreachable, 500 otherwise.
    pub fn from_sqlx(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => {
                tracing::warn!(error = %ErrorChain(&error), "database unavailable");
                Self::unavailable("the database is unavailable; retry shortly", 2)
            }
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .as_deref()
                    .is_some_and(zekka_event_store::error::unavailable_sqlstate) =>
            {
                tracing::warn!(error = %ErrorChain(&error), "database unavailable");
                Self::unavailable("the database is unavailable; retry shortly", 2)
            }
            other => Self::internal(&other),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human explanation.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The document sent to the client.
    pub fn details(&self) -> ProblemDetails {
        ProblemDetails {
            kind: format!("https://zekka.dev/problems/{}", self.status.as_u16()),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: (!self.errors.is_empty()).then(|| self.errors.clone()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut document = serde_json::to_value(self.details()).unwrap_or_default();
        if let Some(members) = document.as_object_mut() {
            for (name, value) in &self.extensions {
                members.insert((*name).to_owned(), value.clone());
            }
        }
        let body = serde_json::to_vec(&document).unwrap_or_default();
        let mut builder = Response::builder()
            .status(self.status)
            .header(CONTENT_TYPE, PROBLEM_JSON);
        if let Some(seconds) = self.retry_after {
            builder = builder.header(RETRY_AFTER, seconds.to_string());
        }
        for (name, value) in &self.headers {
            builder = builder.header(*name, value.as_str());
        }
        builder.body(body)
    }
}

impl poem::error::ResponseError for Problem {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

impl ApiResponse for Problem {
    fn meta() -> MetaResponses {
        let documented = [
            (400, "The request could not be read"),
            (401, "Missing or invalid credentials"),
            (403, "Not allowed"),
            (404, "Not found, or not yours"),
            (409, "Conflicting state or concurrent write; retry"),
            (402, "The project's budget does not allow this"),
            (413, "The request body is too large"),
            (415, "The body must be `application/json`"),
            (422, "Invalid values; see `errors`"),
            (429, "Too many requests; see `Retry-After`"),
            (503, "A dependency is unavailable; see `Retry-After`"),
        ];
        MetaResponses {
            responses: documented
                .into_iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: ProblemDetails::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ProblemDetails::register(registry);
    }
}

/// Displays an error with its whole `source()` chain, for logs.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The store's read errors as answers: 503 when the database is
/// unreachable, 500 otherwise.
impl From<zekka_event_store::StoreError> for Problem {
    fn from(error: zekka_event_store::StoreError) -> Self {
        use zekka_event_store::StoreError;
        match error {
            StoreError::Pool(error) => Self::from_pool(error),
            StoreError::Read(error) => Self::from_db(error),
            StoreError::Write(error) => Self::from_sqlx(error),
            StoreError::PersonalData(zekka_event_store::personal_data::PersonalDataError::Database(
                cause,
            )) => {
                tracing::warn!(error = %cause, "the personal-data key store failed");
                Self::unavailable("the database is unavailable; retry shortly", 2)
            }
            StoreError::PersonalData(_) | StoreError::Corrupt(_) => Self::internal(&error),
        }
    }
}

/// A consistency token that is not one of ours: 400.
impl From<zekka_event_store::consistency::InvalidToken> for Problem {
    fn from(error: zekka_event_store::consistency::InvalidToken) -> Self {
        Self::bad_request(error.to_string())
    }
}

/// A read that could not wait for its token: 400 (not ours), 429 (too many
/// waits), 503 (not caught up in time, or the database is down).
impl From<zekka_event_store::consistency::WaitError> for Problem {
    fn from(error: zekka_event_store::consistency::WaitError) -> Self {
        use zekka_event_store::consistency::WaitError;
        match error {
            WaitError::NotIssued => Self::bad_request(error.to_string()),
            WaitError::TooManyWaits => Self::too_many_requests(error.to_string(), 1),
            WaitError::Behind(detail) => Self::unavailable(detail, 1),
            WaitError::Store(error) => error.into(),
        }
    }
}
