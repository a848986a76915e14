//! `preferences`: each user's complete settings (`rm_preferences`).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::preferences::{PreferencesEvent, Settings};
use zekka_event_store::event_log::StoredEvent;

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `preferences` read model.
pub struct PreferencesProjection;

#[async_trait]
impl Projection for PreferencesProjection {
    fn name(&self) -> &'static str {
        "preferences"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_preferences"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Preferences", "User"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        let user_id = uuid_of(&event.aggregate_id)?;
        if event.aggregate_type == "User" {
            // An erased person's preferences go with them.
            if event.event_type == "UserErased" {
                let delete = tx
                    .prepare_cached("DELETE FROM rm_preferences WHERE user_id = $1")
                    .await?;
                tx.execute(&delete, &[&user_id]).await?;
            }
            return Ok(());
        }
        let settings = match super::decode::<PreferencesEvent>(event)? {
            PreferencesEvent::PreferencesUpdated { settings }
            | PreferencesEvent::PreferencesImported { settings } => settings,
            PreferencesEvent::PreferencesReset {} => Settings::default(),
        };
        let upsert = tx
            .prepare_cached(
                "INSERT INTO rm_preferences (user_id, settings, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at",
            )
            .await?;
        tx.execute(&upsert, &[&user_id, &settings.to_json(), &event.recorded_at])
            .await?;
        Ok(())
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_preferences").await?;
        Ok(())
    }
}
