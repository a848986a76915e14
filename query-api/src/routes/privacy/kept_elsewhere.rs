//! The parts of a person's export kept outside the event streams, in the
//! tables docs/privacy.md's retention table names: mail sent to them, the
//! answers remembered for their idempotent writes, the sources they
//! uploaded, and webhook messages
//! waiting to be delivered that name them. Each until the retention
//! sweeper removes it.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// A mail to the person (its body is never exported: while unsent it holds
/// a one-time link; once sent it is emptied).
#[derive(Debug, Object)]
pub(super) struct ExportMail {
    /// password_reset, email_verification, invitation, …
    purpose: String,
    subject: String,
    queued_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

/// An answer remembered for one of the person's writes sent with an
/// `Idempotency-Key` (kept 24 hours to answer a retry the same way).
#[derive(Debug, Object)]
pub(super) struct ExportRememberedRequest {
    key: String,
    /// The answer's status; `null` while it was still being answered.
    status: Option<i32>,
    created_at: DateTime<Utc>,
}

/// A webhook message naming the person, not yet delivered to the project's
/// receiver (its content is the event, exported in its own place).
#[derive(Debug, Object)]
pub(super) struct ExportWebhookMessage {
    /// The event or notice it carries.
    kind: String,
    /// The event's global position.
    global_position: i64,
    queued_at: DateTime<Utc>,
}

/// A source the person uploaded that is still kept (its bytes are the
/// project's; `GET /sources/{id}/content` serves them to its members).
#[derive(Debug, Object)]
pub(super) struct ExportSource {
    source_id: Uuid,
    project_id: Uuid,
    name: String,
    size_bytes: i64,
    media_type: String,
    sha256: String,
    uploaded_at: DateTime<Utc>,
}

/// What the tables outside the streams hold about one person.
pub(super) struct KeptElsewhere {
    pub sources_uploaded: Vec<ExportSource>,
    pub mail: Vec<ExportMail>,
    pub remembered_requests: Vec<ExportRememberedRequest>,
    pub pending_webhook_messages: Vec<ExportWebhookMessage>,
}

/// Reads them for `person`, whose (opened) address is `email`.
///
/// # Errors
/// When the database fails.
pub(super) async fn kept_elsewhere(
    client: &impl GenericClient,
    person: Uuid,
    email: &str,
) -> Result<KeptElsewhere, tokio_postgres::Error> {
    let mail = client
        .query(
            "SELECT purpose, subject, created_at, sent_at FROM mail_outbox
              WHERE lower(recipient) = lower($1) ORDER BY created_at",
            &[&email],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(ExportMail {
                purpose: row.try_get(0)?,
                subject: row.try_get(1)?,
                queued_at: row.try_get(2)?,
                sent_at: row.try_get(3)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let remembered_requests = client
        .query(
            "SELECT key, status, created_at FROM idempotency_keys
              WHERE scope = 'user:' || $1::text ORDER BY created_at",
            &[&person.to_string()],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(ExportRememberedRequest {
                key: row.try_get(0)?,
                status: row.try_get(1)?,
                created_at: row.try_get(2)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    // The same match erasure deletes them by (command-api's privacy route).
    let pending_webhook_messages = client
        .query(
            "SELECT kind, global_position, created_at FROM webhook_outbox
              WHERE strpos(body, $1) > 0 ORDER BY id",
            &[&person.to_string()],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(ExportWebhookMessage {
                kind: row.try_get(0)?,
                global_position: row.try_get(1)?,
                queued_at: row.try_get(2)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let sources_uploaded = client
        .query(
            "SELECT source_id, project_id, name, size_bytes, media_type, sha256, created_at FROM rm_sources
              WHERE created_by = $1 ORDER BY source_id",
            &[&person],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(ExportSource {
                source_id: row.try_get(0)?,
                project_id: row.try_get(1)?,
                name: row.try_get(2)?,
                size_bytes: row.try_get(3)?,
                media_type: row.try_get(4)?,
                sha256: row.try_get(5)?,
                uploaded_at: row.try_get(6)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok(KeptElsewhere {
        sources_uploaded,
        mail,
        remembered_requests,
        pending_webhook_messages,
    })
}
