//! Signing a checkpoint over the events committed since the last one.

use super::{
    CHECKPOINT_LOCK, CHECKPOINT_PURPOSE, Checkpoint, DocumentSigner, IntegrityError, event_hash, fold,
    read_hashed,
};
use crate::event_log::Position;

/// Signs a checkpoint over every event committed since the last one, if
/// there are any and no other process is checkpointing right now. Each
/// event is checked against its hash first: nothing tampered is signed.
///
/// # Errors
/// When the database fails, signing fails, or an event does not match its hash.
pub async fn checkpoint(
    client: &mut deadpool_postgres::Object,
    signer: &impl DocumentSigner,
) -> Result<Option<Checkpoint>, IntegrityError> {
    let tx = client.transaction().await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&CHECKPOINT_LOCK])
        .await?
        .try_get(0)?;
    if !locked {
        return Ok(None);
    }
    let last = tx
        .query_opt(
            "SELECT transaction_id, global_position, event_count, running_hash FROM audit_checkpoints
              ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
            &[],
        )
        .await?;
    let (mut position, mut count, mut running) = match last {
        Some(row) => {
            let hash: Vec<u8> = row.try_get(3)?;
            (
                Position {
                    transaction_id: row.try_get(0)?,
                    global_position: row.try_get(1)?,
                },
                row.try_get::<_, i64>(2)?,
                <[u8; 32]>::try_from(hash.as_slice()).unwrap_or([0; 32]),
            )
        }
        None => (Position::START, 0, [0; 32]),
    };
    let start = position;
    loop {
        let batch = read_hashed(&*tx, position, true).await?;
        let Some(last) = batch.last() else { break };
        let next = last.position;
        for event in &batch {
            let hash = event_hash(event.previous_hash.as_deref(), event);
            if hash.as_slice() != event.stored_hash.as_slice() {
                return Err(IntegrityError::Tampered(event.position.global_position));
            }
            running = fold(&running, &hash, event.position.global_position);
            count += 1;
        }
        position = next;
    }
    if position == start {
        return Ok(None);
    }
    let (document, key_id) = signer
        .sign(CHECKPOINT_PURPOSE, &Checkpoint::claims(position, count, &running))
        .map_err(IntegrityError::Signing)?;
    tx.execute(
        "INSERT INTO audit_checkpoints (transaction_id, global_position, event_count, running_hash, document, key_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &position.transaction_id,
            &position.global_position,
            &count,
            &running.as_slice(),
            &document,
            &key_id,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Checkpoint {
        position,
        global_position: position.global_position,
        event_count: count,
        running_hash: hex::encode(running),
        document,
    }))
}
