//! Running a command: event metadata from who asks, the retries of a busy
//! aggregate, and the consistency token of the result.

use std::collections::HashMap;

use backon::{BackoffBuilder, ExponentialBuilder};
use cqrs_es::AggregateError;
use uuid::Uuid;
use zekka_domain::{Decide, Refusal};
use zekka_event_store::consistency::ConsistencyToken;
use zekka_event_store::database::ReadPool;
use zekka_event_store::event_log::Position;
use zekka_event_store::lookups::positions;
use zekka_platform::http::ClientInfo;

use zekka_event_store::store::{CommandBus, Executed, Guard, facts_moved};

use super::error::AppError;

/// Who asks and through which request: becomes every event's metadata.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The signed-in user, if any (registration has none yet); for an API
    /// key, who issued it.
    pub actor: Option<Uuid>,
    /// The API key the request came with, if any (kept in the metadata, so
    /// auditors see which key wrote what).
    pub api_key: Option<Uuid>,
    /// The request's correlation id.
    pub request_id: String,
    /// The client's address and user agent.
    pub client: ClientInfo,
    /// The event that caused the command, when a process manager reacts to
    /// one (`event:<global position>`); a request's commands are caused by
    /// the request itself.
    pub causation_id: Option<String>,
}

impl CommandContext {
    /// The same context, noting the API key that acts.
    pub fn with_api_key(mut self, key: Option<Uuid>) -> Self {
        self.api_key = key;
        self
    }

    /// The context of an operator's command run from the `zekka` binary
    /// (`request` names it, as a correlation id would a request).
    pub fn operator(request: &str) -> Self {
        Self {
            actor: None,
            api_key: None,
            request_id: format!("{request} {}", Uuid::now_v7()),
            client: ClientInfo::default(),
            causation_id: None,
        }
    }

    /// The context of a command the process manager `process` issues in
    /// reaction to the event at `position`, for the run `correlation`
    /// (auditors follow a run by it, and each command to its cause).
    pub fn reacting(process: &str, correlation: Uuid, position: i64) -> Self {
        Self {
            actor: None,
            api_key: None,
            request_id: format!("{process}:{correlation}"),
            client: ClientInfo::default(),
            causation_id: Some(format!("event:{position}")),
        }
    }

    fn metadata(&self, command: &str) -> HashMap<String, String> {
        let mut metadata = HashMap::from([
            ("command".to_owned(), command.to_owned()),
            ("correlation_id".to_owned(), self.request_id.clone()),
            // A request's commands are caused by the request itself; commands
            // issued by other events will name those events here.
            (
                "causation_id".to_owned(),
                self.causation_id
                    .clone()
                    .unwrap_or_else(|| self.request_id.clone()),
            ),
        ]);
        if let Some(actor) = self.actor {
            metadata.insert("actor".to_owned(), actor.to_string());
        }
        if let Some(key) = self.api_key {
            metadata.insert("api_key_id".to_owned(), key.to_string());
        }
        if let Some(ip) = &self.client.ip {
            metadata.insert("client_ip".to_owned(), ip.clone());
        }
        if let Some(agent) = &self.client.user_agent {
            metadata.insert("user_agent".to_owned(), agent.clone());
        }
        metadata
    }
}

/// Executes `command` on the aggregate `aggregate_id` and returns the
/// consistency token of its stream's last event.
///
/// # Errors
/// The domain's refusal, a write that met a concurrent one every time, or
/// the database failing.
pub async fn execute<A>(
    bus: &CommandBus<A>,
    aggregate_id: &str,
    command: A::Command,
    name: &'static str,
    context: &CommandContext,
) -> Result<ConsistencyToken, AppError>
where
    A: Decide + Clone,
    A::Command: Clone,
    A::Error: Refusal,
{
    let executed = run(bus, aggregate_id, command, name, context).await?;
    token(bus, aggregate_id, executed.appended).await
}

/// The state of aggregate `id` as stored now (for decisions outside a
/// command: the orchestrator's next step, a view).
///
/// # Errors
/// 503 or 500 when the database fails or the stream does not read.
pub async fn load<A>(bus: &CommandBus<A>, id: Uuid) -> Result<A, AppError>
where
    A: Decide + Clone,
    A::Command: Clone,
    A::Error: Refusal,
{
    bus.store().state(&id.to_string()).await.map_err(AppError::from)
}

/// The consistency token of a command's answer: the position of the last
/// event it appended, or (when it appended nothing) of the stream's last.
///
/// # Errors
/// When the database fails.
pub async fn token<A>(
    bus: &CommandBus<A>,
    aggregate_id: &str,
    appended: Option<Position>,
) -> Result<ConsistencyToken, AppError>
where
    A: Decide + Clone,
    A::Command: Clone,
{
    match appended {
        Some(position) => Ok(ConsistencyToken(position)),
        None => Ok(ConsistencyToken(bus.store().stream_head(aggregate_id).await?)),
    }
}

/// Executes `command` with the request's metadata through `bus` (which
/// decides again when another writer appended first); the outcome is left
/// to the caller (for flows that branch on the domain's refusal).
///
/// # Errors
/// As the bus reports them; a conflict only when every attempt met one.
pub async fn run<A>(
    bus: &CommandBus<A>,
    aggregate_id: &str,
    command: A::Command,
    name: &'static str,
    context: &CommandContext,
) -> Result<Executed<A>, AggregateError<A::Error>>
where
    A: Decide + Clone,
    A::Command: Clone,
{
    bus.execute(aggregate_id, command, &context.metadata(name), name)
        .await
}

/// The position of the last event written (the store's head): the
/// consistency token of an answer that wrote nothing of its own.
///
/// # Errors
/// When the database fails.
pub async fn head_position(reads: &ReadPool) -> Result<ConsistencyToken, AppError> {
    let client = reads.get().await?;
    Ok(ConsistencyToken(positions::head(&client).await?))
}

/// How often a command on a busy aggregate is decided again when another
/// process wrote first.
const ATTEMPTS: usize = 8;

/// Executes, on a busy aggregate, the command `build` makes: waits for this
/// process's turn on `key` (so its writers never collide), and builds and
/// decides again, with jittered back-off, when another process wrote first
/// or `retry_on` says the facts the command was built on went stale. Only
/// for commands that are safe to decide again.
///
/// `build(fresh)` may read facts from other streams' state in memory
/// (`fresh` false) and return the [`Guard`] that keeps them true: the
/// append then fails if they moved, and a command refused or stale on
/// facts from memory is built again on fresh ones before it is answered.
///
/// The outer error is `build`'s; the inner result is the aggregate's outcome.
///
/// # Errors
/// An error from `build`.
#[allow(clippy::too_many_arguments)]
pub async fn run_serialized<A, F, Fut, E>(
    locks: &super::keyed_lock::KeyedLocks,
    key: Uuid,
    bus: &CommandBus<A>,
    aggregate_id: &str,
    name: &'static str,
    context: &CommandContext,
    retry_on: fn(&A::Error) -> bool,
    build: F,
) -> Result<Result<Executed<A>, AggregateError<A::Error>>, E>
where
    A: Decide + Clone,
    A::Command: Clone,
    F: Fn(bool) -> Fut,
    Fut: Future<Output = Result<(A::Command, Option<Guard>), E>>,
{
    let _turn = locks.lock(key).await;
    // 2, 4, 8 … 64 ms plus jitter between the attempts.
    let mut pauses = ExponentialBuilder::new()
        .with_min_delay(std::time::Duration::from_millis(2))
        .with_max_delay(std::time::Duration::from_millis(64))
        .with_jitter()
        .with_max_times(ATTEMPTS - 1)
        .build();
    let mut fresh = false;
    loop {
        let (command, guard) = build(fresh).await?;
        let outcome = bus
            .execute_guarded(
                aggregate_id,
                command,
                &context.metadata(name),
                name,
                guard.as_ref(),
            )
            .await;
        let stale = matches!(&outcome, Err(error) if facts_moved(error));
        // Refused, or stale, on facts from memory: never answered before
        // the facts are read fresh.
        if guard.is_some() && !fresh && (stale || matches!(&outcome, Err(AggregateError::UserError(_)))) {
            fresh = true;
            continue;
        }
        // `execute_guarded` has already decided again on conflicts.
        let retryable = stale || matches!(&outcome, Err(AggregateError::UserError(error)) if retry_on(error));
        match pauses.next() {
            Some(pause) if retryable => tokio::time::sleep(pause).await,
            _ => return Ok(outcome),
        }
    }
}
