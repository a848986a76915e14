//! The retention policy, enforced: every table the write side keeps that
//! holds personal or secret data outside the event stream, how long a row
//! is kept, and the sweeper that removes it after (hourly, and `zekka
//! retention run [--dry-run]`). `docs/privacy.md` has the whole table,
//! with what lives elsewhere (Redis keys expire by themselves; read models
//! are purged by their projections; events are sealed and shredded).

use std::time::Duration;

use chrono::{DateTime, Utc};
use zekka_event_store::database::ReadPool;
use zekka_platform::metrics::METRICS;
use zekka_platform::shutdown::Shutdown;

use crate::app::error::AppError;

/// One rule: which rows of a table go, and when.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Its name (the metric's label, the report's line).
    pub name: &'static str,
    /// The table.
    pub table: &'static str,
    /// What its rows hold.
    pub holds: &'static str,
    /// How long a row is kept, in words.
    pub kept: &'static str,
    /// The rows that go at `$1` (now).
    pub condition: &'static str,
}

/// Every rule, in the order the sweeper applies them.
pub const RULES: &[Rule] = &[
    Rule {
        name: "mail_sent",
        table: "mail_outbox",
        holds: "a sent mail's recipient and subject (its body, with any one-time link, is emptied when sent)",
        kept: "7 days after sending",
        condition: "sent_at < $1::timestamptz - interval '7 days'",
    },
    Rule {
        name: "mail_unsent",
        table: "mail_outbox",
        holds: "an undeliverable mail's recipient and body with its one-time link",
        kept: "8 days (past the longest link's life, an invitation's 7 days)",
        condition: "sent_at IS NULL AND created_at < $1::timestamptz - interval '8 days'",
    },
    Rule {
        name: "idempotency_answers",
        table: "idempotency_keys",
        holds: "a write's stored answer (never one carrying tokens)",
        kept: "24 hours, as long as a key can be replayed",
        condition: "created_at < $1::timestamptz - interval '24 hours'",
    },
    Rule {
        name: "webhook_undelivered",
        table: "webhook_outbox",
        holds: "a message (with opened personal data) waiting for a receiver",
        kept: "7 days; a receiver down longer misses it",
        condition: "created_at < $1::timestamptz - interval '7 days'",
    },
    // Two read models keep rows past their use: a session's until it is
    // revoked, an invitation's until it is accepted or taken back. Their
    // projections own the rows; a rebuild writes expired ones back, and the
    // next sweep removes them again.
    Rule {
        name: "sessions_expired",
        table: "rm_sessions",
        holds: "an ended session's address and user agent",
        kept: "until its refresh token expires",
        condition: "expires_at < $1::timestamptz",
    },
    Rule {
        name: "invitations_expired",
        table: "rm_invitations",
        holds: "an invited address",
        kept: "until the invitation expires (7 days) unless accepted or taken back before",
        condition: "expires_at < $1::timestamptz",
    },
];

/// What one rule removed (or, dry, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    /// The rule.
    pub rule: &'static str,
    /// Its table.
    pub table: &'static str,
    /// Rows removed (or that would be).
    pub rows: u64,
}

/// Applies every rule as of `now`; with `dry_run`, only counts.
///
/// # Errors
/// When the database fails.
pub async fn sweep(pool: &ReadPool, now: DateTime<Utc>, dry_run: bool) -> Result<Vec<Swept>, AppError> {
    let client = pool.get().await?;
    let mut report = Vec::with_capacity(RULES.len());
    for rule in RULES {
        let rows = if dry_run {
            let sql = format!("SELECT count(*) FROM {} WHERE {}", rule.table, rule.condition);
            let count: i64 = client.query_one(&sql, &[&now]).await?.try_get(0)?;
            u64::try_from(count).unwrap_or(0)
        } else {
            let sql = format!("DELETE FROM {} WHERE {}", rule.table, rule.condition);
            let removed = client.execute(&sql, &[&now]).await?;
            METRICS
                .retention_removed
                .with_label_values(&[rule.name])
                .inc_by(removed);
            removed
        };
        report.push(Swept {
            rule: rule.name,
            table: rule.table,
            rows,
        });
    }
    Ok(report)
}

/// How often the sweeper runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Sweeps once an hour until `shutdown`.
pub async fn run(pool: ReadPool, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            () = tokio::time::sleep(EVERY) => {}
        }
        match sweep(&pool, Utc::now(), false).await {
            Ok(report) => {
                let removed: u64 = report.iter().map(|s| s.rows).sum();
                if removed > 0 {
                    tracing::info!(removed, "retention: expired rows removed");
                }
            }
            Err(error) => tracing::warn!(%error, "retention sweep failed; retrying in an hour"),
        }
    }
}
