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
