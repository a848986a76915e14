//! Why the application refused or failed a command, in its own terms: the
//! HTTP edge maps each case onto a problem answer in one place
//! (`crate::http::problem`), and a test without a server asserts on the
//! case itself.

use cqrs_es::AggregateError;
use zekka_domain::{ErrorKind, FieldError, Refusal};
use zekka_event_store::StoreError;

/// A command's failure, as the application sees it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A rule refuses the request: the kind says which (not found,
    /// forbidden, conflict, …), the detail says why.
    #[error("{detail}")]
    Refused {
        /// Which kind of refusal.
        kind: ErrorKind,
        /// Why, for the person who sent it.
        detail: String,
    },
    /// Fields that do not parse, each with its reason.
    #[error("invalid input: {}", listed(.0))]
    Invalid(Vec<FieldError>),
    /// Too many attempts: try again after `retry_after` seconds.
    #[error("{detail}")]
    TooManyRequests {
        /// What is limited.
        detail: String,
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// Another writer changed the aggregate first, every time it was tried.
    #[error("the resource was changed by a concurrent request; reload it and retry")]
    Concurrent,
    /// A dependency (Redis, the database) is down: try again after `retry_after` seconds.
    #[error("{detail}")]
    Unavailable {
        /// What is down.
        detail: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A write-side table's query failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A read connection's query failed.
    #[error(transparent)]
    Read(#[from] tokio_postgres::Error),
    /// No read connection could be had.
    #[error(transparent)]
    Pool(#[from] deadpool_postgres::PoolError),
    /// Something that should not happen did (a bug, a broken invariant).
    #[error("{0}")]
    Internal(String),
}

/// `field: message; …`, for a log line or an operator's terminal.
fn listed(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|error| format!("{}: {}", error.field, error.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl AppError {
    /// A refusal of `kind` saying `detail`.
    pub fn refused(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self::Refused {
            kind,
            detail: detail.into(),
        }
    }

    /// What the caller asked for does not exist (or is not theirs to see).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::refused(ErrorKind::NotFound, detail)
    }

    /// The caller may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::refused(ErrorKind::Forbidden, detail)
    }

    /// The caller's credentials do not hold.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::refused(ErrorKind::Unauthorized, detail)
    }

    /// The request contradicts the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::refused(ErrorKind::Conflict, detail)
    }

    /// One field that does not parse.
    pub fn invalid_field(error: FieldError) -> Self {
        Self::Invalid(vec![error])
    }

    /// Too many attempts; the next may come after `retry_after` seconds.
    pub fn too_many_requests(detail: impl Into<String>, retry_after: u64) -> Self {
        Self::TooManyRequests {
            detail: detail.into(),
            retry_after,
        }
    }

    /// A dependency is down; retry after `retry_after` seconds.
    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self::Unavailable {
            detail: detail.into(),
            retry_after,
        }
    }

    /// Whether the state contradicts the request: a refusal of kind
    /// conflict, or a concurrent writer that won every time.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::Concurrent
                | Self::Refused {
                    kind: ErrorKind::Conflict,
                    ..
                }
        )
    }

    /// A failure that is a bug, with its cause and the causes' causes.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut text = cause.to_string();
        let mut source = cause.source();
        while let Some(next) = source {
            text.push_str(": ");
            text.push_str(&next.to_string());
            source = next.source();
        }
        Self::Internal(text)
    }
}

/// The one reading of an aggregate's failure: the domain's refusal keeps its
/// kind, a conflict that outlasted every retry is [`AppError::Concurrent`].
impl<E: Refusal> From<AggregateError<E>> for AppError {
    fn from(error: AggregateError<E>) -> Self {
        match error {
            AggregateError::UserError(refusal) => {
                let fields = refusal.field_errors();
                if fields.is_empty() {
                    Self::refused(refusal.kind(), refusal.to_string())
                } else {
                    Self::Invalid(fields)
                }
            }
            AggregateError::AggregateConflict => Self::Concurrent,
            AggregateError::DatabaseConnectionError(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::unavailable("the database is unavailable; retry shortly", 2)
            }
            AggregateError::DeserializationError(cause) => Self::Internal(cause.to_string()),
            AggregateError::UnexpectedError(cause) => match cause.downcast::<sqlx::Error>() {
                Ok(sqlx_error) => Self::Database(*sqlx_error),
                Err(other) => Self::Internal(other.to_string()),
            },
        }
    }
}
