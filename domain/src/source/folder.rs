//! The SourceFolder aggregate: a folder of a project's sources, nested
//! under another or at the top. Whether a parent is live, whether a move
//! would make a loop and whether a folder is empty are read by the caller
//! with the project's structure held still, and decided here.

use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::command::FolderCommand;
use super::error::SourceError;
use super::event::FolderEvent;
use super::require_writer;

/// What a folder's decisions need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceFolder {
    /// Set by `SourceFolderCreated`.
    pub id: Option<Uuid>,
    /// Its project.
    pub project_id: Option<Uuid>,
    /// The folder it is in.
    pub parent_id: Option<Uuid>,
    /// Its name.
    pub name: String,
    /// Whether it was deleted.
    pub removed: bool,
}

impl Aggregate for SourceFolder {
    const TYPE: &'static str = "SourceFolder";
    type Command = FolderCommand;
    type Event = FolderEvent;
    type Error = SourceError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            FolderEvent::SourceFolderCreated {
                folder_id,
                project_id,
                name,
                parent_id,
                ..
            } => {
                self.id = Some(folder_id);
                self.project_id = Some(project_id);
                self.parent_id = parent_id;
                self.name = name;
            }
            FolderEvent::SourceFolderRenamed { name, .. } => self.name = name,
            FolderEvent::SourceFolderMoved { parent_id, .. } => self.parent_id = parent_id,
            FolderEvent::SourceFolderRemoved { .. } => self.removed = true,
        }
    }
}

crate::sink::decider!(SourceFolder);

impl SourceFolder {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// The [`SourceError`] naming the rule the command breaks.
    pub fn decide(&self, command: FolderCommand) -> Result<Vec<FolderEvent>, SourceError> {
        if let FolderCommand::Create {
            folder_id,
            project_id,
            name,
            parent_id,
            actor,
            access,
        } = command
        {
            if self.id.is_some() {
                return Err(SourceError::AlreadyExists);
            }
            require_writer(access)?;
            return Ok(vec![FolderEvent::SourceFolderCreated {
                folder_id,
                project_id,
                name: name.as_str().to_owned(),
                parent_id,
                created_by: actor,
            }]);
        }
        let Some(id) = self.id.filter(|_| !self.removed) else {
            return Err(SourceError::NotFound);
        };
        match command {
            FolderCommand::Create { .. } => Err(SourceError::AlreadyExists),
            FolderCommand::Rename { name, actor, access } => {
                require_writer(access)?;
                if name.as_str() == self.name {
                    return Ok(vec![]);
                }
                Ok(vec![FolderEvent::SourceFolderRenamed {
                    name: name.as_str().to_owned(),
                    renamed_by: actor,
                }])
            }
            FolderCommand::Move {
                parent_id,
                parent_ancestors,
                actor,
                access,
            } => {
                require_writer(access)?;
                if parent_id == Some(id) || parent_ancestors.contains(&id) {
                    return Err(SourceError::FolderCycle);
                }
                if parent_id == self.parent_id {
                    return Ok(vec![]);
                }
                Ok(vec![FolderEvent::SourceFolderMoved {
                    parent_id,
                    moved_by: actor,
                }])
            }
            FolderCommand::Remove { holds, actor, access } => {
                require_writer(access)?;
                if holds > 0 {
                    return Err(SourceError::FolderNotEmpty);
                }
                Ok(vec![FolderEvent::SourceFolderRemoved { removed_by: actor }])
            }
        }
    }
}
