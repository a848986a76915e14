//! Dependency faults: the real PostgreSQL and Redis are stopped and started
//! again under load, and at the end of each test every write acknowledged
//! is stored and every stored event is projected.
//!
//! A binary of its own: cargo runs test binaries one after another, so no
//! other test shares the outage; the tests here take turns through
//! [`ONE_FAULT_AT_A_TIME`]. They need the local services' control commands
//! (`pg_ctlcluster`, `redis-server`, `redis-cli`), as on the CI machine.

#[allow(dead_code, unused_imports)]
#[path = "../api/support/mod.rs"]
mod support;

mod postgres_restart;
mod redis_outage;

/// The faults are machine-wide: one at a time.
static ONE_FAULT_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
