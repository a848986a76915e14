//! `streams`: who each stream belongs to (`rm_streams`), so the audit routes
//! can show members their projects' streams and people their own.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use serde_json::Value;
use uuid::Uuid;
use zekka_event_store::event_log::StoredEvent;

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
        "Conversation" | "Agent" | "Conflict" | "Execution" | "Task" => (field("project_id")?, None),
        "User" | "Preferences" => (None, Some(uuid_of(&event.aggregate_id)?)),
        "Session" => (None, field("user_id")?),
        _ => (None, None),
    })
}

#[async_trait]
impl Projection for StreamsProjection {
    fn name(&self) -> &'static str {
        "streams"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_streams"]
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
        ]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.sequence != 1 {
            return Ok(());
        }
        let (project_id, user_id) = owner(event)?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO rm_streams (aggregate_type, aggregate_id, project_id, user_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING",
            )
            .await?;
        tx.execute(
            &insert,
            &[&event.aggregate_type, &event.aggregate_id, &project_id, &user_id],
        )
        .await?;
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_streams").await?;
        Ok(())
    }
}
