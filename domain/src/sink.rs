//! Writing decided events to the `cqrs-es` sink.
//!
//! `EventSink::write` applies each event to the aggregate it is given. In
//! cqrs-es 0.5 the snapshot and aggregate stores apply the committed events
//! to the loaded aggregate again when they serialise it, so applying them
//! during `handle` as well corrupts stored snapshots. Writing through a
//! throw-away clone keeps the live aggregate untouched: only the store applies
//! the events, and snapshot state equals a replay.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;

/// Pushes `events` to `sink` without applying them to `aggregate` itself.
pub async fn emit<A>(aggregate: &A, sink: &EventSink<A>, events: Vec<A::Event>)
where
    A: Aggregate + Clone,
{
    let mut scratch = aggregate.clone();
    for event in events {
        sink.write(event, &mut scratch).await;
    }
}

/// Implements `Aggregate::handle` for an aggregate whose decisions are a pure
/// `decide(&self, command) -> Result<Vec<Event>, Error>`: decide, then hand
/// the events to the sink through [`emit`].
macro_rules! handle_by_deciding {
    () => {
        async fn handle(
            &mut self,
            command: Self::Command,
            _services: &Self::Services,
            sink: &cqrs_es::event_sink::EventSink<Self>,
        ) -> Result<(), Self::Error> {
            let events = self.decide(command)?;
            $crate::sink::emit(self, sink, events).await;
            Ok(())
        }
    };
}
pub(crate) use handle_by_deciding;

/// An aggregate whose commands are decided by a pure function of its state:
/// what the event store's command bus runs (no sink, no services).
pub trait Decide: Aggregate {
    /// The events `command` produces on this state, or its refusal.
    ///
    /// # Errors
    /// The aggregate's refusal.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
}

/// Implements [`Decide`] with each aggregate's own `decide`.
macro_rules! decider {
    ($($aggregate:ty),* $(,)?) => {
        $(
            impl $crate::sink::Decide for $aggregate {
                fn decide(
                    &self,
                    command: <$aggregate as cqrs_es::Aggregate>::Command,
                ) -> Result<Vec<<$aggregate as cqrs_es::Aggregate>::Event>, <$aggregate as cqrs_es::Aggregate>::Error> {
                    <$aggregate>::decide(self, command)
                }
            }
        )*
    };
}
pub(crate) use decider;
