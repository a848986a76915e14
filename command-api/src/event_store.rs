//! The command side's event store: postgres-es's repository (same table,
//! same statements, same optimistic-concurrency key), with personal data
//! sealed on the way in and opened on the way out, so aggregates decide on
//! plaintext while the table holds only ciphertext of it
//! (`platform::personal_data`).

use std::sync::Arc;

use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate, CqrsFramework};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;
use zekka_platform::personal_data::{PersonalData, PersonalDataError};

/// A `cqrs-es` framework over the sealing repository.
pub type Cqrs<A> = CqrsFramework<A, Store<A>>;

/// A store loading aggregates through the sealing repository.
pub type Store<A> = PersistedEventStore<SealingRepository, A>;

/// postgres-es's repository with crypto-shredding of personal fields.
pub struct SealingRepository {
    inner: PostgresEventRepository,
    personal: Arc<PersonalData>,
}

impl SealingRepository {
    /// A repository over `pool` sealing with `personal`.
    pub fn new(pool: PgPool, personal: Arc<PersonalData>) -> Self {
        Self {
            inner: PostgresEventRepository::new(pool),
            personal,
        }
    }

    async fn open(&self, events: &mut [SerializedEvent]) -> Result<(), PersistenceError> {
        self.personal
            .open_all(
                events
                    .iter_mut()
                    .map(|e| (e.aggregate_type.as_str(), e.event_type.as_str(), &mut e.payload)),
            )
            .await
            .map_err(persistence_error)
    }
}

fn persistence_error(error: PersonalDataError) -> PersistenceError {
    match error {
        PersonalDataError::Database(_) => PersistenceError::ConnectionError(Box::new(error)),
        other => PersistenceError::UnknownError(Box::new(other)),
    }
}

impl PersistedEventRepository for SealingRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut events = self.inner.get_events::<A>(aggregate_id).await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut events = self
            .inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        // Snapshotted aggregates (Project, Conversation) keep no personal
        // data in their state: see `SEALED_FIELDS`.
        self.inner.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let mut sealed = events.to_vec();
        for event in &mut sealed {
            self.personal
                .seal(
                    &event.aggregate_type,
                    &event.aggregate_id,
                    &event.event_type,
                    &mut event.payload,
                )
                .await
                .map_err(persistence_error)?;
        }
        self.inner.persist::<A>(&sealed, snapshot_update).await
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        // Not used by Zekka (projectors read the table themselves); the
        // events come as stored, sealed.
        self.inner.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<A>().await
    }
}
