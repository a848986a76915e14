//! The webhook outbox: a follower of the event stream that, for each event
//! clients hear of, enqueues one delivery per webhook of its project
//! subscribed to that message type, in the transaction that moves its
//! checkpoint: each event is enqueued exactly once, in stream order, and a
//! receiver that is down holds up nothing but its own queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use uuid::Uuid;
use zekka_event_store::event_log::StoredEvent;
use zekka_event_store::wakeup::Wakeup;
use zekka_platform::metrics::METRICS;
use zekka_platform::notifications;
use zekka_platform::shutdown::Shutdown;

use crate::app::access;
use crate::app::error::AppError;
use crate::app::follower::{self, Follower, Payloads};
use crate::app::state::CommandState;

/// The aggregate types whose events clients hear of.
const TYPES: [&str; 7] = [
    "Project",
    "Conversation",
    "Agent",
    "Conflict",
    "Execution",
    "Task",
    "Source",
];

/// Its place in the stream. It reads streams and names first, and the
/// payloads only of a batch that holds an event some webhook wants.
pub const FOLLOWER: Follower = Follower {
    name: "webhook-outbox",
    payloads: Payloads::None,
};

/// Events read per batch.
const BATCH: i64 = 500;

/// How often it looks without a wake-up.
const POLL: Duration = Duration::from_secs(1);

/// Enqueues deliveries until `shutdown`, waking `queued` when it did.
pub async fn run(
    state: Arc<CommandState>,
    mut appended: Wakeup,
    queued: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    loop {
        appended.mark_seen();
        loop {
            match run_once(&state).await {
                Ok((passed, enqueued)) => {
                    if enqueued > 0 {
                        queued.notify_one();
                    }
                    // A short batch reached the end of what is committed.
                    if i64::try_from(passed).unwrap_or(i64::MAX) < BATCH {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the webhook outbox could not enqueue; retrying");
                    break;
                }
            }
        }
        tokio::select! {
            () = shutdown.wait() => break,
            () = appended.notified() => tokio::time::sleep(follower::COALESCE).await,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The project an event belongs to.
async fn project_of(state: &CommandState, event: &StoredEvent) -> Result<Option<Uuid>, AppError> {
    if let Some(project) = notifications::project_in_payload(event) {
        return Ok(Some(project));
    }
    let aggregate_type = match event.aggregate_type.as_str() {
        "Conversation" => "Conversation",
        "Agent" => "Agent",
        "Conflict" => "Conflict",
        "Execution" => "Execution",
        "Task" => "Task",
        "Source" => "Source",
        _ => return Ok(None),
    };
    match Uuid::parse_str(&event.aggregate_id) {
        Ok(id) => access::owning_project(state, aggregate_type, id).await,
        Err(_) => Ok(None),
    }
}

/// Enqueues the deliveries of the next batch; (events passed, deliveries enqueued).
///
/// # Errors
/// When the database fails or personal data cannot be opened; nothing of
/// the batch is enqueued and it is read again.
pub async fn run_once(state: &CommandState) -> Result<(usize, usize), AppError> {
    let mut client = state.reads.get().await?;
    let tx = client.transaction().await?;
    let Some((from, events)) = FOLLOWER.next_batch(&tx, BATCH).await? else {
        tx.commit().await?;
        return Ok((0, 0));
    };
    let Some(last) = events.last().map(|event| event.position) else {
        return Ok((0, 0));
    };
    let any_webhook: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM webhooks WHERE removed_at IS NULL)",
            &[],
        )
        .await?
        .try_get(0)?;
    if !any_webhook
        || !events
            .iter()
            .any(|event| notifications::kind_of(&event.aggregate_type, &event.event_type).is_some())
    {
        // Nothing to deliver: the batch passes by without its payloads.
        FOLLOWER.advance(&tx, last).await?;
        tx.commit().await?;
        return Ok((events.len(), 0));
    }
    // Someone may want some of it: read it again, with payloads (first
    // events name their project, and the deliveries need the rest).
    let events = Follower::payloads_between(&tx, (from, last), events.len(), &TYPES).await?;
    // Which events go to which webhooks: looked up once per batch.
    let mut notified = Vec::new();
    for event in &events {
        let Some(kind) = notifications::kind_of(&event.aggregate_type, &event.event_type) else {
            continue;
        };
        match project_of(state, event).await {
            Ok(Some(project)) => notified.push((event, kind, project)),
            Ok(None) => {}
            Err(error) if error.is_transient() => return Err(error),
            Err(error) => {
                // A stream whose owner does not read: its event reaches no
                // webhook, and every other event still does.
                METRICS
                    .follower_events
                    .with_label_values(&[FOLLOWER.name, "skipped"])
                    .inc();
                tracing::error!(%error, position = event.position.global_position,
                    "the webhook outbox passed over an event whose project cannot be read");
            }
        }
    }
    let projects: Vec<Uuid> = notified.iter().map(|(_, _, project)| *project).collect();
    let mut subscribed: HashMap<Uuid, Vec<(Uuid, Vec<String>)>> = HashMap::new();
    if !projects.is_empty() {
        for row in tx
            .query(
                "SELECT project_id, webhook_id, events FROM webhooks
                  WHERE project_id = ANY($1) AND removed_at IS NULL",
                &[&projects],
            )
            .await?
        {
            subscribed
                .entry(row.try_get(0)?)
                .or_default()
                .push((row.try_get(1)?, row.try_get(2)?));
        }
    }
    let mut deliveries = Vec::new();
    for (event, kind, project) in notified {
        let targets: Vec<Uuid> = subscribed
            .get(&project)
            .into_iter()
            .flatten()
            .filter(|(_, events)| events.iter().any(|wanted| wanted == kind))
            .map(|(webhook, _)| *webhook)
            .collect();
        if !targets.is_empty() {
            deliveries.push((event.clone(), project, targets));
        }
    }
    // Personal data is opened only for what is delivered.
    let mut opened: Vec<StoredEvent> = deliveries.iter().map(|(event, _, _)| event.clone()).collect();
    state
        .personal
        .open_events(&tx, &mut opened)
        .await
        .map_err(|error| AppError::Internal(format!("cannot open personal data: {error}")))?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO webhook_outbox (webhook_id, global_position, kind, body) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    let mut enqueued = 0;
    for (event, (_, project, targets)) in opened.iter().zip(&deliveries) {
        let Some(notification) = notifications::notification(event, Some(*project)) else {
            continue;
        };
        let body = notification.text(event.position.global_position);
        for webhook in targets {
            tx.execute(
                &insert,
                &[
                    webhook,
                    &event.position.global_position,
                    &notification.kind,
                    &body,
                ],
            )
            .await?;
            enqueued += 1;
        }
    }
    FOLLOWER.advance(&tx, last).await?;
    tx.commit().await?;
    METRICS
        .follower_events
        .with_label_values(&[FOLLOWER.name, "ok"])
        .inc_by(events.len() as u64);
    Ok((events.len(), enqueued))
}
