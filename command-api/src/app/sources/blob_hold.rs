//! One blob of one project at a time, across every process: an upload
//! holds it from putting the bytes at their address until its event is
//! written; the sweeper holds it from checking that no source names the
//! bytes until it has removed them. So the sweeper never removes bytes an
//! upload of the same content is about to name.

use std::future::Future;

use uuid::Uuid;

use zekka_event_store::database::ReadPool;

use crate::app::error::AppError;

/// Runs `work` holding the blob `sha256` of `project` (a PostgreSQL
/// transaction-level advisory lock, released when the transaction ends,
/// also when `work` is cancelled).
///
/// # Errors
/// `work`'s error, or the database's.
pub async fn holding<F, Fut, T>(reads: &ReadPool, project: Uuid, sha256: &str, work: F) -> Result<T, AppError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let mut client = reads.get().await?;
    let hold = client.transaction().await?;
    let key = format!("zekka-blob:{project}:{sha256}");
    hold.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key])
        .await?;
    let outcome = work().await;
    // Ending the transaction releases the lock; a failure to end it closes
    // the connection, which releases it too.
    let _ = hold.commit().await;
    outcome
}
