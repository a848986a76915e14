//! Project execution (issue 22): the orchestrator runs a project through
//! its workflow stages as a process manager on the event stream, and hands
//! each stage's tasks to agent processes under leases. `docs/orchestration.md`
//! has the state machine and the guarantees.
//!
//! # Layout
//! - [`process`]: the process manager (its checkpoint, its reactions).
//! - [`plan`]: a stage's tasks and the model each runs on (budget-aware).
//! - [`work`]: claiming work (long poll), heartbeats, finishing a task.
//! - [`leases`]: the sweeper that lapses ended leases.
//! - [`control`]: what people do to a run, and the run's view.

pub mod control;
pub mod leases;
pub mod plan;
pub mod process;
pub mod work;
