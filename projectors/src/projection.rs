//! The trait every read model implements.

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_event_store::event_log::StoredEvent;

/// Why a projection could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The read-model write failed.
    #[error("read-model write failed: {0}")]
    Database(#[from] tokio_postgres::Error),
    /// The stored payload does not match the event it names.
    #[error("event payload does not match its type: {0}")]
    Payload(#[from] serde_json::Error),
    /// The event names an aggregate id that is not a UUID.
    #[error("aggregate id {0:?} is not a UUID")]
    AggregateId(String),
    /// A source's bytes could not be read for the search index.
    #[error("reading a source's bytes failed: {0}")]
    Blobs(zekka_platform::blobs::BlobError),
}

/// A read model built from the event stream.
///
/// `apply` runs inside the batch's transaction, which also advances the
/// checkpoint: it must only write through `tx`, and it is never called twice
/// for one event (unless the earlier call's transaction rolled back).
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The stable name of the projection: its checkpoint key. Never rename.
    fn name(&self) -> &'static str;

    /// The aggregate types whose events it reads; payloads of other events
    /// are not even fetched.
    fn aggregate_types(&self) -> &'static [&'static str];

    /// The tables it owns and writes (and only it): a rebuild builds them
    /// anew in a shadow schema, compares them with these and swaps them in.
    fn tables(&self) -> &'static [&'static str];

    /// Applies one event of one of [`Projection::aggregate_types`].
    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError>;

    /// Applies a batch of events in order. By default one [`apply`] each;
    /// a projection that aggregates in memory and writes multi-row does
    /// better. When it fails, the engine applies the batch again one event
    /// at a time to name the event that fails.
    ///
    /// [`apply`]: Projection::apply
    async fn apply_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }

    /// Empties the projection's tables, to build them again from the start.
    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError>;

    /// The projection as a rebuild runs it, when not as itself: one that
    /// keeps rollups may load only its records during a rebuild and derive
    /// the rollups once, in [`Projection::finish_rebuild`].
    fn for_rebuild(&self) -> Option<Arc<dyn Projection>> {
        None
    }

    /// Completes the rebuilt tables once they have caught up, just before
    /// they are compared with the live ones and swapped in (the shadow
    /// schema first on `tx`'s search path). It may run more than once.
    async fn finish_rebuild(&self, _tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        Ok(())
    }
}
