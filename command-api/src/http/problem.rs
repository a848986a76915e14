//! The one map from the application's failures onto problem answers, and
//! the 422 of a request whose fields do not parse.

use poem::http::StatusCode;
use zekka_domain::{ErrorKind, FieldError};
use zekka_platform::Problem;

use crate::app::error::AppError;

impl From<AppError> for Problem {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Refused { kind, detail } => match kind {
                ErrorKind::Invalid => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail),
                ErrorKind::Forbidden => Problem::forbidden(detail),
                ErrorKind::NotFound => Problem::not_found(detail),
                ErrorKind::Conflict => Problem::conflict(detail),
                ErrorKind::Unauthorized => Problem::unauthorized(detail),
                ErrorKind::Gone => Problem::new(StatusCode::GONE, detail),
                ErrorKind::BadRequest => Problem::bad_request(detail),
                ErrorKind::PaymentRequired => Problem::new(StatusCode::PAYMENT_REQUIRED, detail),
            },
            AppError::Invalid(fields) => Problem::invalid(fields.into_iter().map(Into::into).collect()),
            AppError::TooManyRequests { detail, retry_after } => {
                Problem::too_many_requests(detail, retry_after)
            }
            AppError::Concurrent => Problem::conflict(AppError::Concurrent.to_string()),
            AppError::Unavailable { detail, retry_after } => Problem::unavailable(detail, retry_after),
            AppError::Store(error) => error.into(),
            AppError::Database(error) => Problem::from_sqlx(error),
            AppError::Read(error) => Problem::from_db(error),
            AppError::Pool(error) => Problem::from_pool(error),
            AppError::Internal(cause) => Problem::internal(&std::io::Error::other(cause)),
            AppError::TooLarge(detail) => Problem::new(poem::http::StatusCode::PAYLOAD_TOO_LARGE, detail),
        }
    }
}

/// 422 listing every field error of a request (`http::fields`).
pub fn invalid(errors: Vec<FieldError>) -> Problem {
    Problem::invalid(errors.into_iter().map(Into::into).collect())
}

/// An aggregate's failure as an answer (for flows that looked at the
/// outcome before giving up on it).
pub fn refused<E: zekka_domain::Refusal>(error: cqrs_es::AggregateError<E>) -> Problem {
    AppError::from(error).into()
}
