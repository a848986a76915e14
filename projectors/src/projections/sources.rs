//! `sources`: a project's files and folders (`rm_sources`,
//! `rm_source_folders`), what the source listings, the folder tree and the
//! blob sweeper read.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use zekka_domain::source::{FolderEvent, SourceEvent};
use zekka_event_store::event_log::StoredEvent;

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// The `sources` read model.
pub struct SourcesProjection;

impl SourcesProjection {
    async fn apply_source(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        let source_id = uuid_of(&event.aggregate_id)?;
        let at = &event.recorded_at;
        match super::decode::<SourceEvent>(event)? {
            SourceEvent::SourceAdded {
                project_id,
                folder_id,
                name,
                size_bytes,
                media_type,
                sha256,
                added_by,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_sources (source_id, project_id, folder_id, name, size_bytes, media_type,
                                                 sha256, created_by, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    )
                    .await?;
                let size = i64::try_from(size_bytes).unwrap_or(i64::MAX);
                tx.execute(
                    &insert,
                    &[
                        &source_id,
                        &project_id,
                        &folder_id,
                        &name,
                        &size,
                        &media_type,
                        &sha256,
                        &added_by,
                        at,
                    ],
                )
                .await?;
            }
            SourceEvent::SourceRenamed { name, .. } => {
                let update = tx
                    .prepare_cached("UPDATE rm_sources SET name = $2, updated_at = $3 WHERE source_id = $1")
                    .await?;
                tx.execute(&update, &[&source_id, &name, at]).await?;
            }
            SourceEvent::SourceMoved { folder_id, .. } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE rm_sources SET folder_id = $2, updated_at = $3 WHERE source_id = $1",
                    )
                    .await?;
                tx.execute(&update, &[&source_id, &folder_id, at]).await?;
            }
            SourceEvent::SourceRemoved { .. } => {
                let delete = tx
                    .prepare_cached("DELETE FROM rm_sources WHERE source_id = $1")
                    .await?;
                tx.execute(&delete, &[&source_id]).await?;
            }
        }
        Ok(())
    }

    async fn apply_folder(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        let folder_id = uuid_of(&event.aggregate_id)?;
        match super::decode::<FolderEvent>(event)? {
            FolderEvent::SourceFolderCreated {
                project_id,
                name,
                parent_id,
                created_by,
                ..
            } => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_source_folders (folder_id, project_id, name, parent_id, created_by, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &folder_id,
                        &project_id,
                        &name,
                        &parent_id,
                        &created_by,
                        &event.recorded_at,
                    ],
                )
                .await?;
            }
            FolderEvent::SourceFolderRenamed { name, .. } => {
                let update = tx
                    .prepare_cached("UPDATE rm_source_folders SET name = $2 WHERE folder_id = $1")
                    .await?;
                tx.execute(&update, &[&folder_id, &name]).await?;
            }
            FolderEvent::SourceFolderMoved { parent_id, .. } => {
                let update = tx
                    .prepare_cached("UPDATE rm_source_folders SET parent_id = $2 WHERE folder_id = $1")
                    .await?;
                tx.execute(&update, &[&folder_id, &parent_id]).await?;
            }
            FolderEvent::SourceFolderRemoved { .. } => {
                let delete = tx
                    .prepare_cached("DELETE FROM rm_source_folders WHERE folder_id = $1")
                    .await?;
                tx.execute(&delete, &[&folder_id]).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Projection for SourcesProjection {
    fn name(&self) -> &'static str {
        "sources"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_sources", "rm_source_folders"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["Source", "SourceFolder"]
    }

    async fn apply(&self, tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type == "Source" {
            self.apply_source(tx, event).await
        } else {
            self.apply_folder(tx, event).await
        }
    }

    async fn reset(&self, tx: &Transaction<'_>) -> Result<(), ProjectionError> {
        tx.batch_execute("TRUNCATE rm_sources, rm_source_folders").await?;
        Ok(())
    }
}
