//! Outgoing mail: an outbox table that handlers write to and a mailer that
//! drains it. Delivery writes each mail to the log (no SMTP server is
//! configured in this build); a failed delivery is retried on the next pass.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;
use zekka_platform::problem::{ErrorChain, Problem};
use zekka_platform::shutdown::Shutdown;

/// One mail to send.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The address.
    pub recipient: String,
    /// The subject line.
    pub subject: String,
    /// The text body.
    pub body: String,
    /// Why it is sent (`password_reset`, `email_verification`).
    pub purpose: &'static str,
}

/// Puts `mail` in the outbox.
///
/// # Errors
/// 503 or 500 when the database fails.
pub async fn enqueue(pool: &PgPool, mail: &Mail) -> Result<(), Problem> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body, purpose) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(&mail.recipient)
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(mail.purpose)
    .execute(pool)
    .await
    .map_err(Problem::from_sqlx)?;
    Ok(())
}

/// Sends what is waiting in the outbox, at most `limit` mails; returns how many.
///
/// Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several mailers never
/// send one mail twice.
///
/// # Errors
/// When the database fails.
pub async fn drain_once(pool: &PgPool, limit: i64) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, String, String, String, String)> = sqlx::query_as(
        "SELECT id, recipient, subject, body, purpose FROM mail_outbox
          WHERE sent_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for (id, recipient, subject, body, purpose) in &rows {
        // Log delivery: the mail is the operator's to forward. The body holds
        // a one-time link, so it is logged at debug level only.
        tracing::info!(mail_id = %id, %recipient, %subject, %purpose, "mail delivered to the log");
        tracing::debug!(mail_id = %id, %body, "mail body");
        sqlx::query("UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// Drains the outbox every `interval` until `shutdown`.
pub async fn run(pool: PgPool, interval: Duration, mut shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        match drain_once(&pool, 50).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %ErrorChain(&error), "mailer pass failed; retrying"),
        }
        tokio::select! {
            () = shutdown.wait() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
