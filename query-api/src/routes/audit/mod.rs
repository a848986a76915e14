//! The audit trail: the event stream itself, in commit order, one stream at
//! a time, a stream's state replayed up to a time, and the integrity check.
//!
//! Project members see the streams of their projects, a person the streams
//! about them; the `auditor` and `admin` roles see everything. Secrets kept
//! as digests in events (password and token hashes) are shown redacted.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::MetaSchema;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use zekka_domain::FieldError;
use zekka_event_store::audit::{self, RecordedEvent, Viewer};
use zekka_event_store::event_log::{Position, Xid8};
use zekka_event_store::integrity::{self, Verification};
use zekka_event_store::lookups::positions;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::TokenHeader;
use zekka_platform::input::{Rule, Segment, SequenceFormat, Text, TimeBound};
use zekka_platform::policy::{self, Action};
use zekka_platform::tokens::{AccessClaims, TokenVerifier};

pub mod export;
mod redaction;

pub(crate) use redaction::redacted;
use redaction::seen_by;

use super::QueryTags;
use crate::paging;
use crate::state::QueryState;
use crate::time_range::TimeRange;

/// The audit routes.
pub struct AuditApi {
    state: Arc<QueryState>,
}

impl AuditApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }

    /// The caller as a reader of the log.
    fn viewer(claims: &AccessClaims) -> Viewer {
        Viewer {
            user: claims.user_id,
            sees_everything: sees_everything(claims),
        }
    }
}

/// One stored event as an auditor sees it.
#[derive(Debug, Object)]
struct AuditEvent {
    /// Its global position (gaps are normal).
    position: i64,
    aggregate_type: String,
    aggregate_id: String,
    /// Its place in its stream, from 1.
    sequence: i64,
    event_type: String,
    event_version: String,
    recorded_at: DateTime<Utc>,
    /// The user (or agent) whose command wrote it; `null` for the system.
    actor: Option<String>,
    /// The request that caused it.
    correlation_id: Option<String>,
    /// What caused it (the request, or another event).
    causation_id: Option<String>,
    /// The command that wrote it.
    command: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    /// The event itself, externally tagged (`{"EventName": {…}}`).
    payload: Value,
    /// Its link in the stream's hash chain (hex SHA-256).
    hash: String,
}

/// A page of events.
#[derive(Debug, Object)]
struct AuditPage {
    items: Vec<AuditEvent>,
    /// Pass as `after` (or `cursor`) for the next page; `null` on the last page.
    next_cursor: Option<String>,
    /// Where to resume later, even on the last page: the position after the
    /// last event listed (or the `after` given, when nothing was). A client
    /// following the stream polls with it and sees every new event once.
    resume_cursor: Option<String>,
}

/// An aggregate's state at a time.
#[derive(Debug, Object)]
struct StreamState {
    aggregate_type: String,
    aggregate_id: String,
    /// The time the state is taken at.
    at: DateTime<Utc>,
    /// The sequence of the last event applied.
    sequence: i64,
    /// When that event was recorded.
    as_of: DateTime<Utc>,
    /// The aggregate's state, replayed with the same code as the command side.
    state: Value,
}

/// The first event or checkpoint that did not match.
#[derive(Debug, Object)]
struct VerificationFailure {
    /// altered, missing, checkpoint_mismatch, bad_signature or rewrite_mismatch.
    kind: String,
    global_position: Option<i64>,
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    sequence: Option<i64>,
    detail: String,
}

/// The result of an integrity check.
#[derive(Debug, Object)]
struct VerificationReport {
    /// Nothing failed.
    intact: bool,
    events_checked: i64,
    checkpoints_checked: i64,
    last_position: Option<i64>,
    first_failure: Option<VerificationFailure>,
    /// Every rewrite of stored history (re-sealing old metadata), checked:
    /// the audit shows each time events were changed in place.
    rewrites: Vec<RewriteView>,
}

/// A recorded rewrite of stored history.
#[derive(Debug, Object)]
struct RewriteView {
    rewrite_id: i64,
    /// Why it was made.
    reason: String,
    performed_at: DateTime<Utc>,
    /// Events whose hash changed.
    events_rewritten: i64,
    /// Events whose metadata was sealed.
    events_resealed: i64,
    /// Checkpoints replaced by newly signed ones (still checked against the old hashes).
    checkpoints_superseded: i64,
}

impl From<Verification> for VerificationReport {
    fn from(v: Verification) -> Self {
        Self {
            intact: v.intact,
            events_checked: v.events_checked,
            checkpoints_checked: v.checkpoints_checked,
            last_position: v.last_position,
            first_failure: v.first_failure.map(|f| VerificationFailure {
                kind: serde_json::to_value(f.kind)
                    .ok()
                    .and_then(|k| k.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                global_position: f.global_position,
                aggregate_type: f.aggregate_type,
                aggregate_id: f.aggregate_id,
                sequence: f.sequence,
                detail: f.detail,
            }),
            rewrites: v
                .rewrites
                .into_iter()
                .map(|r| RewriteView {
                    rewrite_id: r.rewrite_id,
                    reason: r.reason,
                    performed_at: r.performed_at,
                    events_rewritten: r.events_rewritten,
                    events_resealed: r.events_resealed,
                    checkpoints_superseded: r.checkpoints_superseded,
                })
                .collect(),
        }
    }
}

/// A signed checkpoint, to keep outside the system.
#[derive(Debug, Object)]
struct CheckpointView {
    global_position: i64,
    event_count: i64,
    /// Hex SHA-256 running hash over the commit order up to here.
    running_hash: String,
    /// The PASETO v4.public document signing the three values above.
    document: String,
    key_id: String,
    created_at: DateTime<Utc>,
}

/// The signed checkpoints.
#[derive(Debug, Object)]
struct CheckpointList {
    items: Vec<CheckpointView>,
}

/// The projections whose tables decide what a caller may see.
const VISIBILITY: [&str; 2] = ["streams", "projects"];

fn sees_everything(claims: &AccessClaims) -> bool {
    policy::allows_person(claims, Action::AuditEverything)
}

fn require_auditor(claims: &AccessClaims) -> Result<(), Problem> {
    policy::authorize_person(claims, Action::AuditEverything)
}

fn audit_event(event: RecordedEvent) -> AuditEvent {
    let meta = |name: &str| {
        event
            .metadata
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    AuditEvent {
        position: event.event.position.global_position,
        actor: meta("actor"),
        correlation_id: meta("correlation_id"),
        causation_id: meta("causation_id"),
        command: meta("command"),
        client_ip: meta("client_ip"),
        user_agent: meta("user_agent"),
        aggregate_type: event.event.aggregate_type,
        aggregate_id: event.event.aggregate_id,
        sequence: event.event.sequence,
        event_type: event.event.event_type,
        event_version: event.event.event_version,
        recorded_at: event.event.recorded_at,
        payload: redacted(event.event.payload),
        hash: hex::encode(event.hash),
    }
}

/// The shape of a commit-order cursor, or of a global position, for the
/// schema (empty: from the start).
enum AuditCursor {}

impl Rule for AuditCursor {
    fn describe(schema: &mut MetaSchema) {
        schema.pattern = Some(r"^([0-9]{1,18}(\.[0-9]{1,18})?)?$".to_owned());
    }
}

/// Where a listing resumes: after a commit-order cursor, or after an
/// event's global position.
enum Resume {
    /// `<transaction id>.<global position>`, as `next_cursor` gives it.
    Cursor(Position),
    /// A global position (an event's `position`), as an auditor writes it.
    GlobalPosition(i64),
}

/// A commit-order cursor (`<transaction id>.<global position>`) or a global
/// position (an integer).
fn parse_cursor(raw: &str) -> Result<Resume, Problem> {
    let invalid = || Problem::bad_request("the cursor is neither one this server issued nor a position");
    let raw = raw.trim();
    let Some((transaction, position)) = raw.split_once('.') else {
        return raw.parse().map(Resume::GlobalPosition).map_err(|_| invalid());
    };
    Ok(Resume::Cursor(Position {
        transaction_id: Xid8(transaction.parse().map_err(|_| invalid())?),
        global_position: position.parse().map_err(|_| invalid())?,
    }))
}

/// The commit-order position `resume` stands for: a global position is the
/// position of its event, or of the last one before it.
async fn position_of(client: &deadpool_postgres::Client, resume: Resume) -> Result<Position, Problem> {
    match resume {
        Resume::Cursor(position) => Ok(position),
        Resume::GlobalPosition(global) => Ok(positions::position_at_or_before(client, global)
            .await?
            .unwrap_or(Position::START)),
    }
}

fn cursor_of(position: &Position) -> String {
    format!("{}.{}", position.transaction_id.0, position.global_position)
}

#[OpenApi(prefix_path = "/api/v1/audit", tag = "QueryTags::Audit")]
impl AuditApi {
    /// Events in commit order, with filters. Only committed events whose
    /// order can no longer change are listed, so paging with `after` never
    /// skips or repeats one, however many writers run.
    #[oai(path = "/events", method = "get", operation_id = "listAuditEvents")]
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        auth: BearerAuth,
        /// The `next_cursor` of the previous page, or a global position
        /// (an event's `position`): the events committed after it.
        after: Query<Option<Text<AuditCursor>>>,
        /// The same as `after`, under the name every other list uses.
        cursor: Query<Option<Text<AuditCursor>>>,
        limit: Query<Option<paging::PageLimit>>,
        aggregate_type: Query<Option<String>>,
        aggregate_id: Query<Option<String>>,
        event_type: Query<Option<String>>,
        /// The acting user's id.
        actor: Query<Option<String>>,
        from: Query<Option<Text<TimeBound>>>,
        to: Query<Option<Text<TimeBound>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<AuditPage>, Problem> {
        let limit = paging::limit(limit.0)?;
        let range = TimeRange::parse(from.0.as_deref(), to.0.as_deref())?;
        // Both names are read, and each must be a cursor when given; `after` wins.
        let read = |raw: Option<&str>| {
            raw.filter(|raw| !raw.trim().is_empty())
                .map(parse_cursor)
                .transpose()
        };
        let (after, cursor) = (read(after.0.as_deref())?, read(cursor.0.as_deref())?);
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &VISIBILITY)
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let after = match after.or(cursor) {
            Some(resume) => position_of(&client, resume).await?,
            None => Position::START,
        };
        let filter = audit::Filter {
            after,
            aggregate_type: aggregate_type.0,
            aggregate_id: aggregate_id.0,
            event_type: event_type.0,
            actor: actor.0,
            from: range.from,
            until: range.until,
            limit: limit + 1,
        };
        let events: Vec<(Position, AuditEvent)> =
            audit::page(&client, &self.state.personal, Self::viewer(&auth.0), &filter)
                .await?
                .into_iter()
                .map(|event| (event.event.position, audit_event(event)))
                .collect();
        let (events, next) = paging::page(events, limit, |(position, _)| cursor_of(position));
        let resume = events.last().map_or(after, |(position, _)| *position);
        Ok(Json(AuditPage {
            items: events
                .into_iter()
                .map(|(_, event)| seen_by(event, &auth.0))
                .collect(),
            next_cursor: next,
            resume_cursor: Some(cursor_of(&resume)),
        }))
    }

    /// One stream, in sequence order.
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id",
        method = "get",
        operation_id = "getAuditStream"
    )]
    async fn stream(
        &self,
        auth: BearerAuth,
        aggregate_type: Path<Text<Segment>>,
        aggregate_id: Path<Text<Segment>>,
        /// The `next_cursor` of the previous page (a sequence).
        cursor: Query<Option<Text<SequenceFormat>>>,
        limit: Query<Option<paging::PageLimit>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<AuditPage>, Problem> {
        let (aggregate_type, aggregate_id) = (aggregate_type.0.into_string(), aggregate_id.0.into_string());
        let limit = paging::limit(limit.0)?;
        let after: i64 = match cursor.0.as_deref() {
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| Problem::bad_request("the cursor is not one this server issued"))?,
            None => 0,
        };
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &VISIBILITY)
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let events: Vec<AuditEvent> = audit::stream(
            &client,
            &self.state.personal,
            Self::viewer(&auth.0),
            (&aggregate_type, &aggregate_id),
            after,
            limit + 1,
        )
        .await?
        .into_iter()
        .map(audit_event)
        .collect();
        if events.is_empty() && after == 0 {
            return Err(Problem::not_found("stream not found"));
        }
        let (items, next_cursor) = paging::page(events, limit, |event| event.sequence.to_string());
        let resume_cursor = Some(items.last().map_or(after, |event| event.sequence).to_string());
        Ok(Json(AuditPage {
            items: items.into_iter().map(|event| seen_by(event, &auth.0)).collect(),
            next_cursor,
            resume_cursor,
        }))
    }

    /// The aggregate's state replayed from its events recorded up to `at`
    /// (default now), with the domain's own `apply`.
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id/state",
        method = "get",
        operation_id = "getAuditStreamState"
    )]
    async fn state(
        &self,
        auth: BearerAuth,
        aggregate_type: Path<Text<Segment>>,
        aggregate_id: Path<Text<Segment>>,
        /// An RFC 3339 time, or a date meaning the end of that UTC day.
        at: Query<Option<Text<TimeBound>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<StreamState>, Problem> {
        let (aggregate_type, aggregate_id) = (aggregate_type.0.into_string(), aggregate_id.0.into_string());
        let at = match at.0.as_deref() {
            Some(raw) => TimeRange::parse(None, Some(raw))
                .map_err(|_| {
                    Problem::invalid_field(FieldError::new(
                        "at",
                        "must be an RFC 3339 time or a date (YYYY-MM-DD)",
                    ))
                })?
                .until
                .map(|until| until - chrono::Duration::microseconds(1))
                .unwrap_or_else(Utc::now),
            None => Utc::now(),
        };
        if !zekka_domain::replay::AGGREGATE_TYPES.contains(&aggregate_type.as_str()) {
            return Err(Problem::not_found("stream not found"));
        }
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &VISIBILITY)
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let events = audit::stream_until(
            &client,
            &self.state.personal,
            Self::viewer(&auth.0),
            (&aggregate_type, &aggregate_id),
            at,
        )
        .await?;
        let Some(last) = events.last() else {
            return Err(Problem::not_found("no such stream existed at that time"));
        };
        let (sequence, as_of) = (last.event.sequence, last.event.recorded_at);
        let payloads = events.into_iter().map(|event| event.event.payload);
        let state = zekka_domain::replay::state_after(&aggregate_type, payloads)
            .map_err(|error| Problem::internal(&error))?;
        Ok(Json(StreamState {
            aggregate_type,
            aggregate_id,
            at,
            sequence,
            as_of,
            state: redacted(state),
        }))
    }

    /// Recomputes every event's hash and the running hash of every signed
    /// checkpoint, and names the first thing that does not match.
    #[oai(path = "/verify", method = "get", operation_id = "verifyAuditTrail")]
    async fn verify(
        &self,
        auth: BearerAuth,
        verifier: Data<&Arc<TokenVerifier>>,
    ) -> Result<Json<VerificationReport>, Problem> {
        require_auditor(&auth.0)?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let report = integrity::verify(&**client, verifier.0.as_ref(), &[])
            .await
            .map_err(|error| match error {
                integrity::IntegrityError::Database(db) => Problem::from_db(db),
                other => Problem::internal(&other),
            })?;
        Ok(Json(report.into()))
    }

    /// The signed checkpoints of the commit order, oldest first, for an
    /// auditor to keep outside the system and verify against later.
    #[oai(path = "/checkpoints", method = "get", operation_id = "listAuditCheckpoints")]
    async fn checkpoints(&self, auth: BearerAuth) -> Result<Json<CheckpointList>, Problem> {
        require_auditor(&auth.0)?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let rows = client
            .query(
                "SELECT global_position, event_count, running_hash, document, key_id, created_at
                   FROM audit_checkpoints ORDER BY transaction_id, global_position",
                &[],
            )
            .await
            .map_err(Problem::from_db)?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(CheckpointView {
                    global_position: row.try_get(0)?,
                    event_count: row.try_get(1)?,
                    running_hash: hex::encode(row.try_get::<_, Vec<u8>>(2)?),
                    document: row.try_get(3)?,
                    key_id: row.try_get(4)?,
                    created_at: row.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(Problem::from_db)?;
        Ok(Json(CheckpointList { items }))
    }
}
