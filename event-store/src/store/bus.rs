//! The command bus: runs one command on one aggregate and answers with what
//! it appended and the state it produced. Freshness is an argument, the
//! position a return value: nothing travels through task-locals.

use backon::{BackoffBuilder, ExponentialBuilder};
use cqrs_es::{Aggregate, AggregateError};
use tracing::Instrument;
use zekka_domain::Decide;

use super::{Metadata, Store};
use crate::event_log::Position;
use crate::metrics::METRICS;

/// What a command did.
#[derive(Debug, Clone)]
pub struct Executed<A> {
    /// The position of the last event it appended (`None`: it appended
    /// nothing, e.g. an idempotent repeat).
    pub appended: Option<Position>,
    /// The aggregate's state after it.
    pub state: A,
}

/// How often a command is decided again, on the stream as it now is, when
/// another writer appended to it first. Every command is safe to decide
/// again: none carries a version the client saw, so the second decision is
/// what the request asked for (a session refresh decided again sees its
/// token rotated, which is reuse). Generous: a process whose writers queue
/// for one stream appends back to back, and a writer in another process
/// wins a round only about every other time (the scale-out test lost one
/// command in four runs with 8); 32 rounds make losing all of them
/// vanishingly rare, while a real conflict is refused on the first.
const CONFLICT_ATTEMPTS: usize = 32;

/// The longest pause between two attempts, in milliseconds: short, so the
/// writer that lost a round is soon back (a long pause only lets the other
/// process's queue go on winning).
const CONFLICT_PAUSE_CEILING_MS: u64 = 8;

/// Runs the commands of one aggregate type over its [`Store`].
pub struct CommandBus<A: Aggregate> {
    store: Store<A>,
}

impl<A: Aggregate> Clone for CommandBus<A> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
        }
    }
}

impl<A: Decide + Clone> CommandBus<A>
where
    A::Command: Clone,
{
    /// A bus over `store`.
    pub fn new(store: Store<A>) -> Self {
        Self { store }
    }

    /// The store it appends to (for loads outside commands).
    pub fn store(&self) -> &Store<A> {
        &self.store
    }

    /// Decides `command` (named `name`, for the metrics and spans) on
    /// aggregate `aggregate_id` and appends what it decided, with
    /// `metadata` on every event.
    ///
    /// The state in memory is trusted for the first decision; a refusal
    /// decided on it is decided again on the stream as stored before it is
    /// answered. When another writer appended first, the command is decided
    /// again on the new state, a bounded number of times with jittered
    /// back-off.
    ///
    /// # Errors
    /// The aggregate's refusal ([`AggregateError::UserError`]); a conflict
    /// only when every attempt met one; the database's failure.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &Metadata,
        name: &'static str,
    ) -> Result<Executed<A>, AggregateError<A::Error>> {
        self.execute_guarded(aggregate_id, command, metadata, name, None)
            .await
    }

    /// [`CommandBus::execute`] for a command built on facts from another
    /// stream's state in memory: it appends only while `guard` holds, and
    /// answers [`FactsMoved`](super::FactsMoved) (deciding nothing again:
    /// the command itself is stale) when it does not.
    ///
    /// # Errors
    /// As [`CommandBus::execute`], and [`FactsMoved`](super::FactsMoved).
    pub async fn execute_guarded(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &Metadata,
        name: &'static str,
        guard: Option<&super::Guard>,
    ) -> Result<Executed<A>, AggregateError<A::Error>> {
        let span = tracing::info_span!("command", command = name, aggregate_type = A::TYPE, aggregate_id);
        let mut pauses = conflict_pauses();
        let mut trust_memory = true;
        loop {
            let result = self
                .attempt(aggregate_id, command.clone(), metadata, trust_memory, guard)
                .instrument(span.clone())
                .await;
            match result {
                Err((AggregateError::UserError(_), true)) => {
                    // Refused on the state in memory, which another process
                    // may have moved on: decide again on the stream as stored.
                    trust_memory = false;
                    continue;
                }
                Err((AggregateError::AggregateConflict, _)) => {
                    if let Some(pause) = pauses.next() {
                        METRICS.commands.with_label_values(&[name, "retried"]).inc();
                        tokio::time::sleep(pause).await;
                        trust_memory = false;
                        continue;
                    }
                }
                _ => {}
            }
            let outcome = match &result {
                Ok(_) => "ok",
                Err((AggregateError::UserError(_), _)) => "rejected",
                Err((AggregateError::AggregateConflict, _)) => "conflict",
                Err((error, _)) if super::facts_moved(error) => "stale",
                Err(_) => "error",
            };
            METRICS.commands.with_label_values(&[name, outcome]).inc();
            return result.map_err(|(error, _)| error);
        }
    }

    /// One decision and append; on failure, whether the state decided on
    /// came from memory unchecked.
    async fn attempt(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &Metadata,
        trust_memory: bool,
        guard: Option<&super::Guard>,
    ) -> Result<Executed<A>, (AggregateError<A::Error>, bool)> {
        let (known, unchecked) = self
            .store
            .decision_state(aggregate_id, trust_memory)
            .await
            .map_err(|error| (error, false))?;
        let events = known
            .aggregate
            .decide(command)
            .map_err(|refusal| (AggregateError::UserError(refusal), unchecked))?;
        let (appended, state) = self
            .store
            .commit(aggregate_id, events, (known, unchecked), metadata, guard)
            .await
            .map_err(|error| (error, unchecked))?;
        Ok(Executed { appended, state })
    }
}

/// Pauses before deciding again after a conflict: 1, 2, 4, 8 ms (then 8)
/// plus jitter, so writers in other processes (not queued behind each
/// other) spread out; [`CONFLICT_ATTEMPTS`] attempts in all.
fn conflict_pauses() -> impl Iterator<Item = std::time::Duration> {
    ExponentialBuilder::new()
        .with_min_delay(std::time::Duration::from_millis(1))
        .with_max_delay(std::time::Duration::from_millis(CONFLICT_PAUSE_CEILING_MS))
        .with_jitter()
        .with_max_times(CONFLICT_ATTEMPTS - 1)
        .build()
}
