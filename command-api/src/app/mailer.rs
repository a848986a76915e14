//! Outgoing mail: an outbox table that handlers write to and a mailer that
//! drains it, through SMTP when `SMTP_URL` is set and into the log otherwise.
//! A failed delivery stays in the outbox and is retried on a later pass.

use std::time::Duration;

use crate::app::error::AppError;
use anyhow::{Context, Result};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use uuid::Uuid;
use zekka_platform::Config;
use zekka_platform::problem::ErrorChain;
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
pub async fn enqueue(pool: &PgPool, mail: &Mail) -> Result<(), AppError> {
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
    .map_err(AppError::Database)?;
    Ok(())
}

/// Where mail goes.
pub enum Delivery {
    /// Written to the log (no SMTP server configured).
    Log,
    /// Sent through an SMTP server.
    Smtp {
        /// The connection pool to the server.
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        /// The sender.
        from: Mailbox,
    },
}

impl Delivery {
    /// SMTP when `SMTP_URL` is configured, else the log.
    ///
    /// # Errors
    /// When `SMTP_URL` or `MAIL_FROM` is malformed.
    pub fn from_config(config: &Config) -> Result<Self> {
        let Some(url) = &config.smtp_url else {
            tracing::info!("no SMTP_URL: outgoing mail is written to the log");
            return Ok(Delivery::Log);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .context("SMTP_URL is not a valid smtp:// or smtps:// URL")?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = config
            .mail_from
            .parse()
            .context("MAIL_FROM is not a mail address")?;
        Ok(Delivery::Smtp {
            transport: Box::new(transport),
            from,
        })
    }

    async fn deliver(
        &self,
        id: Uuid,
        recipient: &str,
        subject: &str,
        body: &str,
        purpose: &str,
    ) -> Result<()> {
        match self {
            Delivery::Log => {
                // The body holds a one-time link: debug level only.
                tracing::info!(mail_id = %id, %recipient, %subject, %purpose, "mail delivered to the log");
                tracing::debug!(mail_id = %id, %body, "mail body");
                Ok(())
            }
            Delivery::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(recipient.parse().context("the recipient is not a mail address")?)
                    .subject(subject)
                    .body(body.to_owned())
                    .context("failed to build the message")?;
                transport
                    .send(message)
                    .await
                    .context("the SMTP server refused the mail")?;
                tracing::info!(mail_id = %id, %recipient, %purpose, "mail sent");
                Ok(())
            }
        }
    }
}

/// Sends what is waiting in the outbox, at most `limit` mails; returns how
/// many were sent. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several
/// mailers never send one mail twice.
///
/// # Errors
/// When the database fails.
pub async fn drain_once(pool: &PgPool, delivery: &Delivery, limit: i64) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, String, String, String, String)> = sqlx::query_as(
        "SELECT id, recipient, subject, body, purpose FROM mail_outbox
          WHERE sent_at IS NULL AND body IS NOT NULL AND attempts < 20
          ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = 0;
    for (id, recipient, subject, body, purpose) in &rows {
        match delivery.deliver(*id, recipient, subject, body, purpose).await {
            Ok(()) => {
                sent += 1;
                // The body goes with the sending: it holds one-time links
                // (reset, verification) that must not outlive it in the
                // database or its backups.
                sqlx::query(
                    "UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, body = NULL WHERE id = $1",
                )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Err(error) => {
                tracing::warn!(mail_id = %id, error = %format!("{error:#}"), "mail not delivered; will retry");
                sqlx::query("UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
                    .bind(id)
                    .bind(format!("{error:#}"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(sent)
}

/// Drains the outbox every `interval` until `shutdown`.
pub async fn run(pool: PgPool, delivery: Delivery, interval: Duration, mut shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        match drain_once(&pool, &delivery, 50).await {
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
