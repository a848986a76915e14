//! `catch-up`: a projector starting from nothing, reading the whole store
//! (issue 25, `bench/scale.sh`). Batches of the projectors' size go through
//! the event store's own catch-up read (`event_log::read_after`: the keyset
//! `(transaction_id, global_position) > (…) … LIMIT n` on the catch-up
//! index, every payload decoded and upcast), one after the other from
//! position 0 until a batch comes back short. Nothing is projected: this is
//! the read's share of a rebuild, measured apart from the read models'.
//!
//! One unbounded `SELECT … ORDER BY` over the table, what this measured
//! before, is not what a projector runs: at ten million events PostgreSQL
//! plans it as a parallel sequential scan and an external sort with
//! gigabytes of temporary files (`docs/performance.md` "scale").
//!
//! Needs `DATABASE_URL`; writes nothing.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;
use zekka_event_store::event_log::{self, Position};

use crate::report;

/// What to run.
pub struct Options {
    /// Events per read (`PROJECTOR_BATCH_SIZE`'s default).
    pub batch: i64,
}

/// Reads the store from the start and prints the rate.
///
/// # Errors
/// Without `DATABASE_URL`, or when a read fails.
pub async fn run(options: Options) -> Result<()> {
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL names the store to read")?;
    // A connection of the store's read pool, as the projectors take one.
    let pool = zekka_event_store::database::read_pool(&url, 1)?;
    let client = pool.get().await?;
    let mut batches = report::latency_histogram();
    let mut after = Position::START;
    let mut events: u64 = 0;
    let started = Instant::now();
    loop {
        let read_started = Instant::now();
        let batch = event_log::read_after(&client, after, options.batch, &[]).await?;
        report::record(&mut batches, read_started.elapsed());
        events += batch.len() as u64;
        match batch.last() {
            Some(last) if i64::try_from(batch.len()).unwrap_or(i64::MAX) == options.batch => {
                after = last.position
            }
            _ => break,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = events as f64 / seconds.max(f64::EPSILON);
    println!(
        "{}",
        json!({
            "scenario": "catch-up",
            "events": events,
            "batch": options.batch,
            "seconds": seconds,
            "events_per_second": rate.round(),
            "batch_ms": report::summary(&batches),
        })
    );
    report::print_header();
    report::print_row("batch", &batches, seconds);
    println!("{events} events in {seconds:.1} s: {rate:.0} events/s");
    Ok(())
}
