//! `streams`: who each stream belongs to (`rm_streams`), so the audit routes
//! can show members their projects' streams and people their own, and every
//! event of those streams under its owner (`rm_audit_index`), so a member's
//! listing of the log walks their own scopes instead of everyone's events.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use serde_json::Value;
use uuid::Uuid;
use zekka_event_store::event_log::{StoredEvent, Xid8};

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `streams` read model.
pub struct StreamsProjection;

/// The project or person a stream belongs to, read from its first event.
fn owner(event: &StoredEvent) -> Result<(Option<Uuid>, Option<Uuid>), ProjectionError> {
    let field = |name: &str| -> Result<Option<Uuid>, ProjectionError> {
        // Externally tagged: `{"EventName": {…}}`.
        let inner = event.payload.as_object().and_then(|o| o.values().next());
        match inner.and_then(|i| i.get(name)).and_then(Value::as_str) {
            Some(id) => uuid_of(id).map(Some),
            None => Ok(None),
        }
    };
    Ok(match event.aggregate_type.as_str() {
        "Project" => (Some(uuid_of(&event.aggregate_id)?), None),
        "Conversation" | "Agent" | "Conflict" | "Execution" | "Task" | "Source" | "SourceFolder" => {
            (field("project_id")?, None)
        }
        "User" | "Preferences" => (None, Some(uuid_of(&event.aggregate_id)?)),
        "Session" => (None, field("user_id")?),
        _ => (None, None),
    })
}

/// The owners of the streams a batch starts, column by column.
#[derive(Default)]
struct Owners<'a> {
    aggregate_types: Vec<&'a str>,
    aggregate_ids: Vec<&'a str>,
    project_ids: Vec<Option<Uuid>>,
    user_ids: Vec<Option<Uuid>>,
}

#[async_trait]
impl Projection for StreamsProjection {
    fn name(&self) -> &'static str {
        "streams"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_streams", "rm_audit_index"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[
            "Project",
            "Conversation",
            "Agent",
            "Conflict",
            "Execution",
            "Task",
            "User",
            "Session",
            "Preferences",
            "Source",
            "SourceFolder",
        ]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        self.apply_batch(tx, &[event]).await
    }

    async fn apply_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        // The owners of the streams that start here first, then every event
        // under its stream's owner: two statements for the whole batch.
        let mut owners = Owners::default();
        for event in events.iter().filter(|event| event.sequence == 1) {
            let (project_id, user_id) = owner(event)?;
            owners.aggregate_types.push(&event.aggregate_type);
            owners.aggregate_ids.push(&event.aggregate_id);
            owners.project_ids.push(project_id);
            owners.user_ids.push(user_id);
        }
        if !owners.aggregate_ids.is_empty() {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO rm_streams (aggregate_type, aggregate_id, project_id, user_id)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[])
                     ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &owners.aggregate_types,
                    &owners.aggregate_ids,
                    &owners.project_ids,
                    &owners.user_ids,
                ],
            )
            .await?;
        }
        let aggregate_types: Vec<&str> = events.iter().map(|e| e.aggregate_type.as_str()).collect();
        let aggregate_ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
        let transaction_ids: Vec<Xid8> = events.iter().map(|e| e.position.transaction_id).collect();
        let global_positions: Vec<i64> = events.iter().map(|e| e.position.global_position).collect();
        // Rows already there (the migration's backfill) are skipped.
        let index = tx
            .prepare_cached(
                "INSERT INTO rm_audit_index (scope, transaction_id, global_position)
                 SELECT coalesce(s.project_id, s.user_id), b.transaction_id, b.global_position
                   FROM unnest($1::text[], $2::text[], $3::xid8[], $4::bigint[])
                        AS b(aggregate_type, aggregate_id, transaction_id, global_position)
                   JOIN rm_streams s ON s.aggregate_type = b.aggregate_type AND s.aggregate_id = b.aggregate_id
                  WHERE coalesce(s.project_id, s.user_id) IS NOT NULL
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(
            &index,
            &[
                &aggregate_types,
                &aggregate_ids,
                &transaction_ids,
                &global_positions,
            ],
        )
        .await?;
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_streams, rm_audit_index").await?;
        Ok(())
    }
}
