//! Events of the Source and SourceFolder aggregates. Names and fields are a
//! persisted contract.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Something that happened to a source. A persisted contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SourceEvent {
    /// A file was uploaded and stored.
    SourceAdded {
        /// Its id.
        source_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its folder, `None` at the top.
        folder_id: Option<Uuid>,
        /// Its name.
        name: String,
        /// Its size in bytes.
        size_bytes: u64,
        /// Its media type.
        media_type: String,
        /// The SHA-256 of its bytes (lowercase hex), what they are stored under.
        sha256: String,
        /// Who uploaded it.
        added_by: Uuid,
    },
    /// It was renamed.
    SourceRenamed {
        /// The new name.
        name: String,
        /// Who renamed it.
        renamed_by: Uuid,
    },
    /// It was moved to another folder.
    SourceMoved {
        /// The folder, `None` at the top.
        folder_id: Option<Uuid>,
        /// Who moved it.
        moved_by: Uuid,
    },
    /// It was deleted.
    SourceRemoved {
        /// Who removed it.
        removed_by: Uuid,
    },
}

impl DomainEvent for SourceEvent {
    fn event_type(&self) -> String {
        match self {
            SourceEvent::SourceAdded { .. } => "SourceAdded",
            SourceEvent::SourceRenamed { .. } => "SourceRenamed",
            SourceEvent::SourceMoved { .. } => "SourceMoved",
            SourceEvent::SourceRemoved { .. } => "SourceRemoved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Something that happened to a folder of sources. A persisted contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FolderEvent {
    /// A folder was created.
    SourceFolderCreated {
        /// Its id.
        folder_id: Uuid,
        /// The project.
        project_id: Uuid,
        /// Its name.
        name: String,
        /// The folder it is in, `None` at the top.
        parent_id: Option<Uuid>,
        /// Who created it.
        created_by: Uuid,
    },
    /// It was renamed.
    SourceFolderRenamed {
        /// The new name.
        name: String,
        /// Who renamed it.
        renamed_by: Uuid,
    },
    /// It was moved under another folder.
    SourceFolderMoved {
        /// The new parent, `None` at the top.
        parent_id: Option<Uuid>,
        /// Who moved it.
        moved_by: Uuid,
    },
    /// It was deleted (it was empty).
    SourceFolderRemoved {
        /// Who removed it.
        removed_by: Uuid,
    },
}

impl DomainEvent for FolderEvent {
    fn event_type(&self) -> String {
        match self {
            FolderEvent::SourceFolderCreated { .. } => "SourceFolderCreated",
            FolderEvent::SourceFolderRenamed { .. } => "SourceFolderRenamed",
            FolderEvent::SourceFolderMoved { .. } => "SourceFolderMoved",
            FolderEvent::SourceFolderRemoved { .. } => "SourceFolderRemoved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
