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
    /// A request body over its limit (an upload); nothing was kept.
    #[error("{0}")]
    TooLarge(String),
}

/// A read-side failure worth a retry: the connection went away, or the
/// server refused work for now.
fn read_is_transient(error: &tokio_postgres::Error) -> bool {
    error.is_closed()
        || error
            .code()
            .is_some_and(|code| zekka_event_store::error::unavailable_sqlstate(code.code()))
}

/// A write-side failure worth a retry: no connection, or the server
/// refused work for now.
fn write_is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| zekka_event_store::error::unavailable_sqlstate(&code)),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
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

    /// Whether trying again later may succeed: the database or a pool was
    /// unreachable or out of resources, a dependency is down, or a
    /// concurrent writer won every round. A refusal, a row that does not
    /// read or a bug fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Concurrent | Self::Unavailable { .. } | Self::TooManyRequests { .. } | Self::Pool(_) => {
                true
            }
            Self::Read(error) | Self::Store(StoreError::Read(error)) => read_is_transient(error),
            Self::Database(error) | Self::Store(StoreError::Write(error)) => write_is_transient(error),
            Self::Store(StoreError::Pool(_)) => true,
            Self::Store(StoreError::PersonalData(_) | StoreError::Corrupt(_))
            | Self::Refused { .. }
            | Self::Invalid(_)
            | Self::Internal(_)
            | Self::TooLarge(_) => false,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_and_lost_races_are_worth_a_retry_and_refusals_and_bad_rows_are_not() {
        assert!(AppError::Concurrent.is_transient());
        assert!(AppError::unavailable("down", 2).is_transient());
        assert!(AppError::Database(sqlx::Error::PoolTimedOut).is_transient());
        assert!(
            AppError::Store(StoreError::Write(sqlx::Error::Io(std::io::Error::other("reset"))))
                .is_transient()
        );
        assert!(!AppError::Store(StoreError::Corrupt("no such field".into())).is_transient());
        assert!(!AppError::Database(sqlx::Error::RowNotFound).is_transient());
        assert!(!AppError::conflict("already").is_transient());
        assert!(!AppError::Internal("a bug".into()).is_transient());
    }
}
