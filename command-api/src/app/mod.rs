//! The write side's application layer: what a command needs besides its
//! aggregate (the facts it is built on, sessions, prices, mail, the
//! arbitrator chain) and running it. No HTTP here: failures are
//! [`error::AppError`], and `crate::http` maps them onto answers, so this
//! layer is driven the same by a route, an operator's command or a test.
//!
//! # Layout
//! - [`state`]: what every command shares: pools, one command bus per aggregate, signer.
//! - [`error`]: why a command failed, in the application's terms.
//! - [`dispatch`]: running a command with metadata, retries and its consistency token.
//! - [`access`]: the facts commands are built on (project access, owning projects, message facts).
//! - [`sessions`]: finding accounts, starting, rotating and revoking sessions.
//! - [`accounts`]: account mail (reset and verification tokens, registration notices).
//! - [`invitations`]: inviting people by email, and accepting.
//! - [`lockout`]: locking accounts after failed sign-ins.
//! - [`profile`]: a person looking after their own account: name, password, open sessions.
//! - [`prices`]: the price list charged with (price at a moment, cheapest model).
//! - [`follower`]: following the event stream from a checkpoint of one's own (not a projection).
//! - [`webhooks`]: webhooks: their registry, the outbox follower, the signed deliveries.
//! - [`orchestrator`]: project execution: the process manager, work for agents, leases, model switching.
//! - [`operations`]: operators' decisions (skipping a poison event, system roles).
//! - [`keyed_lock`]: queueing writers to one aggregate inside a process.
//! - [`mailer`]: the mail outbox and its drain.
//! - [`retention`]: the retention policy and its sweeper.
//! - [`checkpointer`]: signing audit checkpoints of the commit order.
//! - [`verifications`]: verifying the audit trail as a job, with progress.
//! - [`arbitration`]: the arbitrator chain that settles conflicts (rules, Ollama models).
//! - [`arbitration_port`]: the chain's port onto the command side.

pub mod access;
pub mod accounts;
pub mod arbitration;
pub mod arbitration_port;
pub mod checkpointer;
pub mod dispatch;
pub mod error;
pub mod follower;
pub mod invitations;
pub mod keyed_lock;
pub mod lockout;
pub mod mailer;
pub mod operations;
pub mod orchestrator;
pub mod prices;
pub mod profile;
pub mod retention;
pub mod sessions;
pub mod sources;
pub mod state;
pub mod verifications;
pub mod webhooks;
