//! `sources`: a project's files and folders (`rm_sources`,
//! `rm_source_folders`), what the source listings, the folder tree, the
//! blob sweeper and search read. A text source's first
//! [`MAX_INDEXED_TEXT_BYTES`] are read from the blob store when it is added
//! and kept in `content_text`, which the search index is generated from.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use uuid::Uuid;
use zekka_domain::source::{FolderEvent, SourceEvent, is_searchable_text};
use zekka_event_store::event_log::StoredEvent;
use zekka_platform::blobs::{BlobError, Blobs};

use super::uuid_of;
use crate::projection::{Projection, ProjectionError};

/// How much of a text source is indexed for search: its first 128 KiB. It
/// keeps the source's `tsvector` well under PostgreSQL's 1 MB limit
/// whatever the text (so no upload can stop the projection) and the
/// projection's read of the blob short.
pub const MAX_INDEXED_TEXT_BYTES: u64 = 128 * 1024;

/// The `sources` read model.
pub struct SourcesProjection {
    blobs: Blobs,
}

/// `bytes` as text PostgreSQL takes: invalid UTF-8 (a character cut by the
/// size cap, or bytes that are not text at all) replaced, NUL (which a
/// `text` column refuses) made a space, a byte order mark dropped.
fn searchable_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_start_matches('\u{feff}').replace('\0', " ")
}

impl SourcesProjection {
    /// The read model, reading text sources' bytes from `blobs`.
    pub fn new(blobs: Blobs) -> Self {
        Self { blobs }
    }

    /// The text to index of a source just added, `None` when it is not
    /// text or its bytes are gone (a rebuild passing a source removed since,
    /// whose blob was swept). A failing store is an error: the batch is
    /// tried again.
    async fn text_of(
        &self,
        project_id: Uuid,
        name: &str,
        media_type: &str,
        sha256: &str,
    ) -> Result<Option<String>, ProjectionError> {
        if !is_searchable_text(media_type, name) {
            return Ok(None);
        }
        match self
            .blobs
            .read_prefix(project_id, sha256, MAX_INDEXED_TEXT_BYTES)
            .await
        {
            Ok(bytes) => Ok(Some(searchable_text(&bytes))),
            Err(BlobError::NotFound | BlobError::RangeNotSatisfiable) => Ok(None),
            Err(error) => Err(ProjectionError::Blobs(error)),
        }
    }

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
                let text = self.text_of(project_id, &name, &media_type, &sha256).await?;
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rm_sources (source_id, project_id, folder_id, name, size_bytes, media_type,
                                                 sha256, created_by, created_at, updated_at, content_text)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
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
                        &text,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_become_text_postgresql_takes() {
        assert_eq!(
            searchable_text("\u{feff}zirconium alloy".as_bytes()),
            "zirconium alloy"
        );
        assert_eq!(searchable_text(b"a\0b"), "a b");
        // A character cut in half by the cap.
        let cut = &"caf\u{e9}".as_bytes()[..4];
        assert_eq!(searchable_text(cut), "caf\u{fffd}");
    }
}
