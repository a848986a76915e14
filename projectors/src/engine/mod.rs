//! [`Projector`]: drives one projection through the event stream, into its
//! live tables or into a rebuild's shadow schema.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::Instrument;
use zekka_event_store::database::ReadPool;
use zekka_event_store::event_log::{self, Position, StoredEvent, Xid8};
use zekka_event_store::personal_data::{PersonalData, PersonalDataError};
use zekka_platform::metrics::METRICS;
use zekka_platform::problem::ErrorChain;
use zekka_platform::shutdown::Shutdown;

mod batch;
mod drain;
mod group;
mod live;
mod skips;

use crate::projection::{Projection, ProjectionError};
use batch::relevant;
pub use group::{Membership, ProjectorGroup};
use skips::Skips;
pub use skips::skipped_events;
use zekka_event_store::wakeup::Wakeup;

/// What one [`Projector::run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied this many events and advanced the checkpoint.
    Applied(usize),
    /// Nothing new to apply.
    Idle,
    /// Another worker holds this projection's lease right now, or released
    /// it a moment ago and moved the checkpoint this batch started from.
    Busy,
}

/// Why a batch failed. The batch's transaction rolled back: nothing of it
/// was applied, and the next attempt starts from the same checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// No database connection could be had.
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement of the engine failed.
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    /// The projection could not apply an event (a poison event, until it is
    /// fixed: nothing after it is applied, nothing is skipped).
    #[error("cannot apply event at {position} ({event_type}): {source}")]
    Apply {
        /// Where the event stands.
        position: Position,
        /// Its type.
        event_type: String,
        /// Why.
        source: ProjectionError,
    },
    /// The projection's batch write failed; the engine applies the batch
    /// again one event at a time to name the event.
    #[error("the batch could not be applied: {0}")]
    Batch(ProjectionError),
    /// Personal data in the batch could not be opened.
    #[error("cannot open personal data: {0}")]
    PersonalData(#[from] PersonalDataError),
    /// The checkpoint changed under this worker, which must not happen while
    /// it holds the lease; the batch was discarded.
    #[error("the checkpoint moved during the batch")]
    CheckpointMoved,
    /// The operators' skips of this projection could not be read.
    #[error("cannot read the skipped events: {source}")]
    Skips {
        /// Why.
        source: zekka_event_store::StoreError,
    },
}

/// The schema a projection's rebuild writes into.
pub fn shadow_schema(name: &str) -> String {
    format!("zekka_rebuild_{name}")
}

/// The checkpoint name of a projection's rebuild.
pub fn shadow_checkpoint(name: &str) -> String {
    format!("{name}@rebuild")
}

/// Drives one projection: reads batches after its checkpoint and applies them.
#[derive(Clone)]
pub struct Projector {
    projection: Arc<dyn Projection>,
    pool: ReadPool,
    personal: Arc<PersonalData>,
    batch_size: i64,
    /// The checkpoint row: the projection's name, or its rebuild's.
    checkpoint: String,
    /// The schema written into ahead of `public` (a rebuild's shadow).
    schema: Option<String>,
    /// The events it passes over (shared by its clones, the shadow's own).
    skips: Arc<Mutex<Skips>>,
}

/// A stable advisory-lock key per checkpoint name (FNV-1a), so two workers of
/// one projection exclude each other and different projections never do.
pub fn lease_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "zekka.projection:".bytes().chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// How a batch is applied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// All of it through [`Projection::apply_batch`].
    Batch,
    /// One event at a time, keeping the events before one that fails.
    OneByOne,
}

impl Projector {
    /// A projector for `projection`, applying up to `batch_size` events per
    /// transaction, with personal data opened by `personal` (projections see
    /// plaintext, or `[erased]`).
    pub fn new(
        projection: Arc<dyn Projection>,
        pool: ReadPool,
        personal: Arc<PersonalData>,
        batch_size: i64,
    ) -> Self {
        let checkpoint = projection.name().to_owned();
        Self {
            projection,
            pool,
            personal,
            batch_size: batch_size.max(1),
            checkpoint,
            schema: None,
            skips: Arc::default(),
        }
    }

    /// The same projection writing into its rebuild's shadow schema, with
    /// the rebuild's checkpoint.
    pub fn shadow(&self) -> Self {
        Self {
            checkpoint: shadow_checkpoint(self.name()),
            schema: Some(shadow_schema(self.name())),
            skips: Arc::default(),
            ..self.clone()
        }
    }

    /// Driving `projection` instead (a rebuild's variant of the same read model).
    pub fn with_projection(mut self, projection: Arc<dyn Projection>) -> Self {
        self.projection = projection;
        self
    }

    /// With another batch size (rebuilds read larger batches).
    pub fn with_batch_size(mut self, batch_size: i64) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The projection's name.
    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// The name of its checkpoint row.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The projection.
    pub fn projection(&self) -> &Arc<dyn Projection> {
        &self.projection
    }

    /// The pool it works on.
    pub fn pool(&self) -> &ReadPool {
        &self.pool
    }

    /// Makes sure the projection has a checkpoint row (at the start of the stream).
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn ensure_checkpoint(&self) -> Result<(), ProjectorError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[&self.checkpoint],
            )
            .await?;
        Ok(())
    }

    /// The position of the last event applied.
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn position(&self) -> Result<Position, ProjectorError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT transaction_id, global_position FROM projection_checkpoints WHERE name = $1",
                &[&self.checkpoint],
            )
            .await?;
        Ok(match row {
            Some(row) => Position::from_row(&row, 0)?,
            None => Position::START,
        })
    }

    /// Empties the read model and its checkpoint, so it is built again from
    /// the first event.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn reset(&self) -> Result<(), ProjectorError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.query_one(
            "SELECT pg_advisory_xact_lock($1)",
            &[&lease_key(&self.checkpoint)],
        )
        .await?;
        if let Some(schema) = &self.schema {
            tx.batch_execute(&format!("SET LOCAL search_path TO {schema}, public"))
                .await?;
        }
        self.projection
            .reset(&tx)
            .await
            .map_err(|source| ProjectorError::Apply {
                position: Position::START,
                event_type: "reset".into(),
                source,
            })?;
        tx.execute(
            "UPDATE projection_checkpoints
                SET transaction_id = '0', global_position = 0, events_applied = 0, updated_at = now()
              WHERE name = $1",
            &[&self.checkpoint],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
