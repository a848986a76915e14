//! The one error of the store's reads and look-ups: which driver failed, so
//! the HTTP edge can tell an unreachable database (503) from a bug (500).

/// A failed statement or connection.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No read connection could be had in time.
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A read-side (tokio-postgres) statement failed.
    #[error(transparent)]
    Read(#[from] tokio_postgres::Error),
    /// A write-side (sqlx) statement failed.
    #[error(transparent)]
    Write(#[from] sqlx::Error),
    /// Personal data could not be opened (the key store failed).
    #[error(transparent)]
    PersonalData(#[from] crate::personal_data::PersonalDataError),
    /// A stored row does not read as the store wrote it.
    #[error("stored event does not read: {0}")]
    Corrupt(String),
}

/// SQLSTATEs of a server going away or refusing work for now (connection
/// failure, shutdown or recovery, out of resources): worth a retry, not a bug.
pub fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
}
