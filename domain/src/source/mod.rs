//! Sources: the files of a project (documents, data, code an agent reads),
//! in nested folders. The bytes live in an object store under their
//! SHA-256; these aggregates record what a source is called, where it sits
//! and who put it there.
//!
//! # Layout
//! - `values`: a name, a digest, a media type, the size limit.
//! - `command`, `event`, `error`: what may be asked, what happened, why not.
//! - `folder`: the SourceFolder aggregate.

mod command;
mod error;
mod event;
mod folder;
mod values;

use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::{FolderCommand, SourceCommand};
pub use error::SourceError;
pub use event::{FolderEvent, SourceEvent};
pub use folder::SourceFolder;
pub use values::{MAX_SOURCE_BYTES, MediaType, Sha256Hex, SourceName, is_searchable_text};

use crate::shared::access::ProjectAccess;

/// What a source's decisions need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Set by `SourceAdded`.
    pub id: Option<Uuid>,
    /// Its project.
    pub project_id: Option<Uuid>,
    /// Its folder.
    pub folder_id: Option<Uuid>,
    /// Its name.
    pub name: String,
    /// Whether it was deleted.
    pub removed: bool,
}

/// The shared writer rule, refused in this aggregate's words.
fn require_writer(access: ProjectAccess) -> Result<(), SourceError> {
    access.require_writer().map(|_| ()).map_err(SourceError::from)
}

impl Aggregate for Source {
    const TYPE: &'static str = "Source";
    type Command = SourceCommand;
    type Event = SourceEvent;
    type Error = SourceError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            SourceEvent::SourceAdded {
                source_id,
                project_id,
                folder_id,
                name,
                ..
            } => {
                self.id = Some(source_id);
                self.project_id = Some(project_id);
                self.folder_id = folder_id;
                self.name = name;
            }
            SourceEvent::SourceRenamed { name, .. } => self.name = name,
            SourceEvent::SourceMoved { folder_id, .. } => self.folder_id = folder_id,
            SourceEvent::SourceRemoved { .. } => self.removed = true,
        }
    }
}

crate::sink::decider!(Source);

impl Source {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`SourceError`] naming the rule the command breaks.
    pub fn decide(&self, command: SourceCommand) -> Result<Vec<SourceEvent>, SourceError> {
        if let SourceCommand::Add {
            source_id,
            project_id,
            folder_id,
            name,
            size_bytes,
            media_type,
            sha256,
            actor,
            access,
        } = command
        {
            if self.id.is_some() {
                return Err(SourceError::AlreadyExists);
            }
            require_writer(access)?;
            if size_bytes > MAX_SOURCE_BYTES {
                return Err(crate::error::FieldError::new("file", "must be at most 50 MB").into());
            }
            return Ok(vec![SourceEvent::SourceAdded {
                source_id,
                project_id,
                folder_id,
                name: name.as_str().to_owned(),
                size_bytes,
                media_type: media_type.as_str().to_owned(),
                sha256: sha256.as_str().to_owned(),
                added_by: actor,
            }]);
        }
        if self.id.is_none() || self.removed {
            return Err(SourceError::NotFound);
        }
        match command {
            SourceCommand::Add { .. } => Err(SourceError::AlreadyExists),
            SourceCommand::Rename { name, actor, access } => {
                require_writer(access)?;
                if name.as_str() == self.name {
                    return Ok(vec![]);
                }
                Ok(vec![SourceEvent::SourceRenamed {
                    name: name.as_str().to_owned(),
                    renamed_by: actor,
                }])
            }
            SourceCommand::Move {
                folder_id,
                actor,
                access,
            } => {
                require_writer(access)?;
                if folder_id == self.folder_id {
                    return Ok(vec![]);
                }
                Ok(vec![SourceEvent::SourceMoved {
                    folder_id,
                    moved_by: actor,
                }])
            }
            SourceCommand::Remove { actor, access } => {
                require_writer(access)?;
                Ok(vec![SourceEvent::SourceRemoved { removed_by: actor }])
            }
        }
    }
}

#[cfg(test)]
mod tests;
