//! Commands of the Source and SourceFolder aggregates.

use uuid::Uuid;

use super::values::{MediaType, Sha256Hex, SourceName};
use crate::shared::access::ProjectAccess;

/// Something asked of a source (a file of a project).
#[derive(Debug, Clone, PartialEq)]
pub enum SourceCommand {
    /// Record a source whose bytes are stored under `sha256`.
    Add {
        /// The id chosen for it (UUIDv7).
        source_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its folder; `None` for the project's top level. The caller has
        /// checked that it is a live folder of the project.
        folder_id: Option<Uuid>,
        /// Its name.
        name: SourceName,
        /// Its size.
        size_bytes: u64,
        /// What its bytes are.
        media_type: MediaType,
        /// The digest its bytes are stored under.
        sha256: Sha256Hex,
        /// Who uploads it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Give it another name.
    Rename {
        /// The new name.
        name: SourceName,
        /// Who renames it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Put it in another folder (checked live by the caller), or at the top.
    Move {
        /// The folder; `None` for the top level.
        folder_id: Option<Uuid>,
        /// Who moves it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Delete it (its bytes go once no source refers to them).
    Remove {
        /// Who removes it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
}

/// Something asked of a folder of sources.
#[derive(Debug, Clone, PartialEq)]
pub enum FolderCommand {
    /// Create a folder.
    Create {
        /// The id chosen for it (UUIDv7).
        folder_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its name.
        name: SourceName,
        /// The folder it is in (checked live by the caller); `None` at the top.
        parent_id: Option<Uuid>,
        /// Who creates it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Give it another name.
    Rename {
        /// The new name.
        name: SourceName,
        /// Who renames it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Put it under another folder, or at the top.
    Move {
        /// The new parent; `None` for the top level.
        parent_id: Option<Uuid>,
        /// The new parent's own ancestors, nearest first, as the caller read
        /// them: the folder may not be among them (nor be the parent).
        parent_ancestors: Vec<Uuid>,
        /// Who moves it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
    /// Delete it, when it holds nothing.
    Remove {
        /// Sources and folders directly in it, as the caller counted them
        /// with the project's structure held still.
        holds: u64,
        /// Who removes it.
        actor: Uuid,
        /// The actor's standing in the project.
        access: ProjectAccess,
    },
}
