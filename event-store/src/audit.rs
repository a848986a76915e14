//! The audit log is the event stream itself: reading it whole, by stream,
//! or up to a moment, as one principal may see it, every event upcast and
//! its personal data opened (or read as erased).
//!
//! What a principal may see is defined once, here ([`VISIBLE`]): auditors
//! and admins everything; everyone else the streams of projects they are
//! members of, and the streams about themselves.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::error::StoreError;
use crate::event_log::{EVENT_COLUMNS, Position, StoredEvent};
use crate::personal_data::PersonalData;

/// Who reads the log.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    /// The person.
    pub user: Uuid,
    /// An auditor or admin: sees every stream.
    pub sees_everything: bool,
}

/// One event with everything the audit shows of it.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// The event as every reader sees it (position, stream, name, version,
    /// time), its payload in the current schema with personal data opened.
    pub event: StoredEvent,
    /// Who, through which request and command.
    pub metadata: Value,
    /// The event's hash in its stream's chain.
    pub hash: Vec<u8>,
}

/// The one definition of the streams a viewer may see: `$1` is the viewer,
/// `$2` whether they see everything, `e` the events.
const VISIBLE: &str = "($2 OR EXISTS (
        SELECT 1 FROM rm_streams s
         WHERE s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id
           AND (s.user_id = $1 OR EXISTS (
                SELECT 1 FROM visible_projects($1) v WHERE v.project_id = s.project_id))))";

/// The filters of a [`page`] of the log, over the events `e`: `$3` stream
/// type, `$4` stream id, `$5` event name, `$6` actor, `$7`/`$8` the time
/// range; each `NULL` for any.
const FILTERS: &str = "($3::text IS NULL OR e.aggregate_type = $3)
    AND ($4::text IS NULL OR e.aggregate_id = $4)
    AND ($5::text IS NULL OR e.event_type = $5)
    AND ($6::text IS NULL OR e.metadata ->> 'actor' = $6)
    AND ($7::timestamptz IS NULL OR e.recorded_at >= $7)
    AND ($8::timestamptz IS NULL OR e.recorded_at < $8)";

/// What [`RecordedEvent::from_row`] reads after [`EVENT_COLUMNS`]: the
/// event's metadata and hash (`SELECT {EVENT_COLUMNS}, {AUDIT_COLUMNS}`).
const AUDIT_COLUMNS: &str = "e.metadata, e.hash";

impl RecordedEvent {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            event: StoredEvent::from_row(row)?,
            metadata: row.try_get(9)?,
            hash: row.try_get(10)?,
        })
    }
}

/// What to list of the whole log.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Events after this position.
    pub after: Position,
    /// Only streams of this type.
    pub aggregate_type: Option<String>,
    /// Only streams with this id.
    pub aggregate_id: Option<String>,
    /// Only events of this name.
    pub event_type: Option<String>,
    /// Only events caused by this person (their id, as the metadata holds it).
    pub actor: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many.
    pub limit: i64,
}

/// Reads rows of [`EVENT_COLUMNS`] and [`AUDIT_COLUMNS`] and opens their personal data.
async fn opened(
    client: &impl GenericClient,
    personal: &PersonalData,
    rows: &[Row],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events = rows
        .iter()
        .map(RecordedEvent::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    personal
        .open_all_with(
            Some(client),
            events.iter_mut().map(|e| {
                (
                    e.event.aggregate_type.as_str(),
                    e.event.event_type.as_str(),
                    &mut e.event.payload,
                )
            }),
        )
        .await?;
    personal
        .open_metadata_with(Some(client), events.iter_mut().map(|e| &mut e.metadata))
        .await?;
    Ok(events)
}

/// Events of the whole log in commit order, as `viewer` may see them. Only
/// committed events whose order can no longer change are listed, so paging
/// with `after` never skips or repeats one.
///
/// # Errors
/// When the database or the key store fails.
pub async fn page(
    client: &impl GenericClient,
    personal: &PersonalData,
    viewer: Viewer,
    filter: &Filter,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let params: [&(dyn ToSql + Sync); 10] = [
        &filter.after.transaction_id,
        &filter.after.global_position,
        &filter.aggregate_type,
        &filter.aggregate_id,
        &filter.event_type,
        &filter.actor,
        &filter.from,
        &filter.until,
        &filter.limit,
        &viewer.user,
    ];
    let rows = if viewer.sees_everything {
        // The whole log: its catch-up index, in order, below the oldest
        // running transaction.
        let statement = client
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS}, {AUDIT_COLUMNS} FROM events e
                  WHERE (e.transaction_id, e.global_position) > ($1, $2)
                    AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                    AND {FILTERS}
                  ORDER BY e.transaction_id, e.global_position
                  LIMIT $9"
            ))
            .await?;
        client.query(&statement, &params[..9]).await?
    } else {
        // Only the viewer's scopes (themselves and each project they are a
        // member of): a page from each, in order, then the first of those.
        // The index holds only events its projection has read, which were
        // below the oldest running transaction then, so none can still
        // commit before them.
        let statement = client
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS}, {AUDIT_COLUMNS}
                   FROM (SELECT $10::uuid AS scope UNION SELECT v.project_id FROM visible_projects($10) v) sc
                  CROSS JOIN LATERAL (
                        SELECT i.transaction_id, i.global_position FROM rm_audit_index i
                          JOIN events e ON e.global_position = i.global_position
                         WHERE i.scope = sc.scope AND (i.transaction_id, i.global_position) > ($1, $2)
                           AND {FILTERS}
                         ORDER BY i.transaction_id, i.global_position
                         LIMIT $9) hit
                   JOIN events e ON e.global_position = hit.global_position
                  ORDER BY hit.transaction_id, hit.global_position
                  LIMIT $9"
            ))
            .await?;
        client.query(&statement, &params).await?
    };
    opened(client, personal, &rows).await
}

/// Up to `limit` events of one stream after sequence `after`, as `viewer`
/// may see them.
///
/// # Errors
/// When the database or the key store fails.
pub async fn stream(
    client: &impl GenericClient,
    personal: &PersonalData,
    viewer: Viewer,
    (aggregate_type, aggregate_id): (&str, &str),
    after: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS}, {AUDIT_COLUMNS} FROM events e
              WHERE e.aggregate_type = $3 AND e.aggregate_id = $4 AND e.sequence > $5 AND {VISIBLE}
              ORDER BY e.sequence LIMIT $6"
        ))
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &viewer.user,
                &viewer.sees_everything,
                &aggregate_type,
                &aggregate_id,
                &after,
                &limit,
            ],
        )
        .await?;
    opened(client, personal, &rows).await
}

/// Every event of one stream recorded up to `at`, as `viewer` may see
/// them: what the stream's state at that moment is replayed from.
///
/// # Errors
/// When the database or the key store fails.
pub async fn stream_until(
    client: &impl GenericClient,
    personal: &PersonalData,
    viewer: Viewer,
    (aggregate_type, aggregate_id): (&str, &str),
    at: DateTime<Utc>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS}, {AUDIT_COLUMNS} FROM events e
              WHERE e.aggregate_type = $3 AND e.aggregate_id = $4 AND e.recorded_at <= $5 AND {VISIBLE}
              ORDER BY e.sequence"
        ))
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &viewer.user,
                &viewer.sees_everything,
                &aggregate_type,
                &aggregate_id,
                &at,
            ],
        )
        .await?;
    opened(client, personal, &rows).await
}

/// What the store holds about one person, by kind, each opened and upcast
/// (GDPR export). Events of other people are never among them.
#[derive(Debug, Default)]
pub struct PersonEvents {
    /// Their account's stream.
    pub account: Vec<RecordedEvent>,
    /// Their sessions' streams.
    pub sessions: Vec<RecordedEvent>,
    /// Project events that name them as owner or member.
    pub memberships: Vec<RecordedEvent>,
    /// The conversations they started (the starting event).
    pub conversations_started: Vec<RecordedEvent>,
    /// The messages they sent.
    pub messages_sent: Vec<RecordedEvent>,
    /// Later edits and deletions of those messages.
    pub message_changes: Vec<RecordedEvent>,
    /// Token usage they recorded in their projects.
    pub usage: Vec<RecordedEvent>,
    /// Their preferences' stream.
    pub preferences: Vec<RecordedEvent>,
    /// Invitations to their address (matched by its blind index) and
    /// their acceptances of them.
    pub invitations_received: Vec<RecordedEvent>,
    /// Invitations they sent (the invitee's address is the invitee's: the
    /// export leaves it out).
    pub invitations_sent: Vec<RecordedEvent>,
}

/// Events matching `condition` (over `e`), opened, in stream order.
async fn matching(
    client: &impl GenericClient,
    personal: &PersonalData,
    condition: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = client
        .query(
            &format!("SELECT {EVENT_COLUMNS}, {AUDIT_COLUMNS} FROM events e WHERE {condition} ORDER BY e.aggregate_id, e.sequence"),
            params,
        )
        .await?;
    opened(client, personal, &rows).await
}

/// Everything the streams hold about `person`.
///
/// # Errors
/// When the database or the key store fails.
pub async fn about_person(
    client: &impl GenericClient,
    personal: &PersonalData,
    person: Uuid,
) -> Result<PersonEvents, StoreError> {
    let me = person.to_string();
    let account = matching(
        client,
        personal,
        "e.aggregate_type = 'User' AND e.aggregate_id = $1",
        &[&me],
    )
    .await?;
    let sessions = matching(
        client,
        personal,
        "e.aggregate_type = 'Session' AND e.aggregate_id IN
            (SELECT aggregate_id FROM rm_streams WHERE aggregate_type = 'Session' AND user_id = $1)",
        &[&person],
    )
    .await?;
    let memberships = matching(
        client,
        personal,
        "e.aggregate_type = 'Project'
         AND ((e.event_type IN ('ProjectMemberAdded', 'ProjectMemberRoleChanged', 'ProjectMemberRemoved')
               AND e.payload -> e.event_type ->> 'user_id' = $1)
           OR (e.event_type = 'ProjectCreated' AND e.payload -> 'ProjectCreated' ->> 'owner_id' = $1))",
        &[&me],
    )
    .await?;
    let project_ids: Vec<String> = memberships.iter().map(|e| e.event.aggregate_id.clone()).collect();
    let conversations_started = matching(
        client,
        personal,
        "e.aggregate_type = 'Conversation' AND e.event_type = 'ConversationStarted' AND e.aggregate_id IN
            (SELECT conversation_id::text FROM rm_conversations WHERE started_by = $1)",
        &[&person],
    )
    .await?;
    let messages_sent = matching(
        client,
        personal,
        "e.aggregate_type = 'Conversation' AND e.event_type = 'MessageSent'
         AND e.payload -> 'MessageSent' ->> 'author_id' = $1",
        &[&me],
    )
    .await?;
    let message_ids: Vec<String> = messages_sent
        .iter()
        .filter_map(|e| {
            e.event
                .payload
                .get(&e.event.event_type)?
                .get("message_id")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let message_changes = matching(
        client,
        personal,
        "e.aggregate_type = 'Conversation' AND e.event_type IN ('MessageEdited', 'MessageDeleted')
         AND e.payload -> e.event_type ->> 'message_id' = ANY($1)",
        &[&message_ids],
    )
    .await?;
    let usage = matching(
        client,
        personal,
        "e.aggregate_type = 'Project' AND e.aggregate_id = ANY($2) AND e.event_type = 'TokenUsageRecorded'
         AND e.metadata ->> 'actor' = $1",
        &[&me, &project_ids],
    )
    .await?;
    let preferences = matching(
        client,
        personal,
        "e.aggregate_type = 'Preferences' AND e.aggregate_id = $1",
        &[&me],
    )
    .await?;
    let email_index = account
        .iter()
        .find(|e| e.event.event_type == "UserRegistered")
        .and_then(|e| e.event.payload.get("UserRegistered")?.get("email")?.as_str())
        .map(|email| personal.email_index(email))
        .unwrap_or_default();
    let invitations_received = matching(
        client,
        personal,
        "e.aggregate_type = 'Project'
         AND ((e.event_type = 'InvitationSent' AND e.payload -> 'InvitationSent' ->> 'email_index' = $2)
           OR (e.event_type = 'InvitationAccepted' AND e.payload -> 'InvitationAccepted' ->> 'user_id' = $1))",
        &[&me, &email_index],
    )
    .await?;
    let invitations_sent = matching(
        client,
        personal,
        "e.aggregate_type = 'Project' AND e.event_type = 'InvitationSent'
         AND e.payload -> 'InvitationSent' ->> 'invited_by' = $1",
        &[&me],
    )
    .await?;
    Ok(PersonEvents {
        invitations_received,
        invitations_sent,
        account,
        sessions,
        memberships,
        conversations_started,
        messages_sent,
        message_changes,
        usage,
        preferences,
    })
}
