//! The audit checkpointer: every `AUDIT_CHECKPOINT_SECONDS`, signs the
//! running hash over the commit order up to the newest stable event
//! (`platform::integrity`). It runs beside the write routes because only
//! command-api holds the signing key; several processes take turns through
//! an advisory lock.

use std::time::Duration;

use zekka_event_store::database::ReadPool;
use zekka_event_store::integrity::{self, IntegrityError};
use zekka_platform::shutdown::Shutdown;
use zekka_platform::tokens::TokenSigner;

/// Signs checkpoints until `shutdown`.
pub async fn run(pool: ReadPool, signer: TokenSigner, interval: Duration, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            () = tokio::time::sleep(interval) => {}
        }
        match once(&pool, &signer).await {
            Ok(Some(checkpoint)) => tracing::debug!(
                position = checkpoint.global_position,
                events = checkpoint.event_count,
                "audit checkpoint signed"
            ),
            Ok(None) => {}
            Err(IntegrityError::Tampered(position)) => tracing::error!(
                position,
                "an event no longer matches its hash; no checkpoint is signed until an operator investigates \
                 (run `zekka audit verify`)"
            ),
            Err(error) => tracing::warn!(%error, "audit checkpoint failed; retrying"),
        }
    }
}

/// Signs one checkpoint now, if events were added since the last one.
///
/// # Errors
/// When the database fails, or an event does not match its hash.
pub async fn once(
    pool: &ReadPool,
    signer: &TokenSigner,
) -> Result<Option<integrity::Checkpoint>, IntegrityError> {
    let mut client = pool.get().await.map_err(|error| match error {
        deadpool_postgres::PoolError::Backend(db) => IntegrityError::Database(db),
        other => IntegrityError::Pool(other.to_string()),
    })?;
    integrity::checkpoint(&mut client, signer).await
}
