//! Sources (issue 23): a file's bytes streamed into the object store and
//! recorded as a `Source`; renaming, moving and deleting sources; folders
//! created, renamed, moved and deleted when empty.
//!
//! Whether a folder is live, empty, or above another is read from the
//! `sources` read model with the project's structure *held still*
//! ([`held_still`]): this process's structural writes to one project take
//! turns, and each first waits until the read model has applied every
//! event written before it. (Two processes writing one project's tree at
//! the same instant can still race; `docs/sources.md` says so.)

mod blob_hold;
mod structure;
pub mod sweeper;

use std::time::Duration;

use bytes::Bytes;
use cqrs_es::AggregateError;
use futures_util::Stream;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;
use zekka_domain::shared::access::ProjectAccess;
use zekka_domain::source::{
    FolderCommand, MAX_SOURCE_BYTES, MediaType, Sha256Hex, Source, SourceCommand, SourceError, SourceFolder,
    SourceName,
};
use zekka_event_store::consistency::{self, ConsistencyToken, WaitError};
use zekka_event_store::database::ReadPool;
use zekka_platform::blobs::{BlobError, StoredBlob};

use crate::app::access;
use crate::app::dispatch::{self, CommandContext};
use crate::app::error::AppError;
use crate::app::state::CommandState;

/// How long a structural write waits for the read model to catch up.
const CATCH_UP: Duration = Duration::from_secs(5);

/// A file to add: where, under which name, of which type.
#[derive(Debug, Clone)]
pub struct NewSource {
    /// The project.
    pub project_id: Uuid,
    /// Its folder; `None` at the top.
    pub folder_id: Option<Uuid>,
    /// Its name.
    pub name: SourceName,
    /// What its bytes are.
    pub media_type: MediaType,
}

/// A source that was added.
#[derive(Debug, Clone)]
pub struct Added {
    /// Its id.
    pub source_id: Uuid,
    /// Its bytes: digest and size.
    pub blob: StoredBlob,
    /// The consistency token of its event.
    pub token: ConsistencyToken,
}

/// A change to a source or a folder: a new name, a new place, or both.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// The new name.
    pub name: Option<SourceName>,
    /// The new folder (or parent); `Some(None)` for the top level.
    pub place: Option<Option<Uuid>>,
}

fn refused(error: SourceError) -> AppError {
    AppError::from(AggregateError::UserError(error))
}

/// The actor's standing in `project`, refused unless they may write there.
async fn writer_access(state: &CommandState, project: Uuid, actor: Uuid) -> Result<ProjectAccess, AppError> {
    let access = access::project_access(state, project, actor).await?;
    access
        .require_writer()
        .map_err(|r| refused(SourceError::from(r)))?;
    Ok(access)
}

/// Waits until the `sources` read model has applied every event written
/// so far (up to [`CATCH_UP`], then 503).
async fn caught_up(reads: &ReadPool) -> Result<(), AppError> {
    let head = dispatch::head_position(reads).await?;
    consistency::poll_until_applied(reads, &["sources"], head, CATCH_UP)
        .await
        .map_err(|error| match error {
            WaitError::Behind(detail) => AppError::unavailable(detail, 1),
            other => AppError::Internal(other.to_string()),
        })
}

/// The project's source tree held still: this process's structural writes
/// to `project` wait their turn, and the read model has applied every event
/// written before the turn began.
async fn held_still(
    state: &CommandState,
    project: Uuid,
) -> Result<(OwnedMutexGuard<()>, deadpool_postgres::Object), AppError> {
    let turn = state
        .write_locks
        .lock(Uuid::new_v5(&project, b"source-structure"))
        .await;
    caught_up(&state.reads).await?;
    Ok((turn, state.lookup_connection().await?))
}

/// Refuses a folder that is not a live folder of `project`.
async fn require_folder(
    client: &deadpool_postgres::Object,
    project: Uuid,
    folder: Option<Uuid>,
    field: &str,
) -> Result<(), AppError> {
    match folder {
        Some(folder) if !structure::is_live_folder(client, project, folder).await? => {
            Err(AppError::invalid_field(zekka_domain::FieldError::new(
                field,
                "no folder of this project has this id",
            )))
        }
        _ => Ok(()),
    }
}

/// Streams `body` into the object store and records the source: the
/// actor's right to write is checked before a byte is stored; over 50 MB is
/// refused with nothing kept.
///
/// # Errors
/// Not a writer of the project, a folder that is not the project's, a
/// body over the limit or broken off, a failing store or database.
pub async fn add<S, E>(
    state: &CommandState,
    context: &CommandContext,
    actor: Uuid,
    new: NewSource,
    body: S,
) -> Result<Added, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    writer_access(state, new.project_id, actor).await?;
    let staged = state
        .blobs
        .stage(body, MAX_SOURCE_BYTES)
        .await
        .map_err(|error| match error {
            BlobError::TooLarge { .. } => {
                AppError::TooLarge("a source is at most 50 MB (52,428,800 bytes); nothing was kept".into())
            }
            BlobError::Body(detail) => AppError::refused(
                zekka_domain::ErrorKind::BadRequest,
                format!("the upload broke off: {detail}"),
            ),
            other => AppError::unavailable(format!("the source store failed: {other}"), 2),
        })?;
    let blob = staged.blob.clone();
    if blob.size_bytes == 0 {
        state.blobs.discard(staged).await;
        return Err(AppError::invalid_field(zekka_domain::FieldError::new(
            "file",
            "the body holds no bytes: send the file's content",
        )));
    }
    let sha256 = match Sha256Hex::parse(&blob.sha256) {
        Ok(sha256) => sha256,
        Err(error) => {
            state.blobs.discard(staged).await;
            return Err(AppError::invalid_field(error));
        }
    };
    let source_id = Uuid::now_v7();
    // The bytes go to their address and the event is written while the
    // blob is held, so the sweeper cannot remove them in between; a refusal
    // now leaves bytes no source names, which the sweeper removes later.
    let token = blob_hold::holding(&state.reads, new.project_id, sha256.as_str(), || async {
        state
            .blobs
            .commit(new.project_id, staged)
            .await
            .map_err(|error| AppError::unavailable(format!("the source store failed: {error}"), 2))?;
        // Only an upload into a folder needs the tree held still (the
        // folder must be live); one to the top level does not wait.
        let _turn = match new.folder_id {
            Some(_) => {
                let (turn, client) = held_still(state, new.project_id).await?;
                require_folder(&client, new.project_id, new.folder_id, "folder_id").await?;
                Some(turn)
            }
            None => None,
        };
        let access = access::project_access(state, new.project_id, actor).await?;
        let command = SourceCommand::Add {
            source_id,
            project_id: new.project_id,
            folder_id: new.folder_id,
            name: new.name,
            size_bytes: blob.size_bytes,
            media_type: new.media_type,
            sha256: sha256.clone(),
            actor,
            access,
        };
        dispatch::execute::<Source>(
            &state.sources,
            &source_id.to_string(),
            command,
            "AddSource",
            context,
        )
        .await
    })
    .await?;
    Ok(Added {
        source_id,
        blob,
        token,
    })
}

/// The project of source `id`, when it exists.
async fn source_project(state: &CommandState, id: Uuid) -> Result<Uuid, AppError> {
    access::owning_project(state, "Source", id)
        .await?
        .ok_or_else(|| AppError::not_found("source not found"))
}

/// The project of folder `id`, when it exists.
async fn folder_project(state: &CommandState, id: Uuid) -> Result<Uuid, AppError> {
    access::owning_project(state, "SourceFolder", id)
        .await?
        .ok_or_else(|| AppError::not_found("folder not found"))
}

/// Renames and/or moves source `id`.
///
/// # Errors
/// Not found (or not the actor's project), not a writer, a folder that is
/// not the project's, a failing database.
pub async fn change_source(
    state: &CommandState,
    context: &CommandContext,
    actor: Uuid,
    id: Uuid,
    change: Change,
) -> Result<ConsistencyToken, AppError> {
    let project = source_project(state, id).await?;
    let access = writer_access(state, project, actor).await?;
    let mut token = None;
    if let Some(name) = change.name {
        let command = SourceCommand::Rename { name, actor, access };
        token = Some(
            dispatch::execute::<Source>(&state.sources, &id.to_string(), command, "RenameSource", context)
                .await?,
        );
    }
    if let Some(folder_id) = change.place {
        let (_turn, client) = held_still(state, project).await?;
        require_folder(&client, project, folder_id, "folder_id").await?;
        let command = SourceCommand::Move {
            folder_id,
            actor,
            access,
        };
        token = Some(
            dispatch::execute::<Source>(&state.sources, &id.to_string(), command, "MoveSource", context)
                .await?,
        );
    }
    match token {
        Some(token) => Ok(token),
        None => as_it_stands(&state.sources, id, |s: &Source| s.removed, "source not found").await,
    }
}

/// The answer to a change that asked for nothing: the stream's head, or
/// 404 once the source or folder is removed.
async fn as_it_stands<A>(
    bus: &zekka_event_store::store::CommandBus<A>,
    id: Uuid,
    removed: impl Fn(&A) -> bool,
    missing: &str,
) -> Result<ConsistencyToken, AppError>
where
    A: zekka_domain::Decide + Clone,
    A::Command: Clone,
    A::Error: zekka_domain::Refusal,
{
    if removed(&dispatch::load(bus, id).await?) {
        return Err(AppError::not_found(missing));
    }
    dispatch::token(bus, &id.to_string(), None).await
}

/// Deletes source `id` (its bytes go once no source names them).
///
/// # Errors
/// Not found, not a writer, a failing database.
pub async fn remove_source(
    state: &CommandState,
    context: &CommandContext,
    actor: Uuid,
    id: Uuid,
) -> Result<ConsistencyToken, AppError> {
    let project = source_project(state, id).await?;
    let access = writer_access(state, project, actor).await?;
    let command = SourceCommand::Remove { actor, access };
    dispatch::execute::<Source>(&state.sources, &id.to_string(), command, "RemoveSource", context).await
}

/// Creates a folder named `name` in `project`, under `parent` or at the top.
///
/// # Errors
/// Not a writer, a parent that is not the project's, a failing database.
pub async fn create_folder(
    state: &CommandState,
    context: &CommandContext,
    actor: Uuid,
    project: Uuid,
    name: SourceName,
    parent: Option<Uuid>,
) -> Result<(Uuid, ConsistencyToken), AppError> {
    writer_access(state, project, actor).await?;
    let (_turn, client) = held_still(state, project).await?;
    require_folder(&client, project, parent, "parent_id").await?;
    let access = access::project_access(state, project, actor).await?;
    let folder_id = Uuid::now_v7();
    let command = FolderCommand::Create {
        folder_id,
        project_id: project,
        name,
        parent_id: parent,
        actor,
        access,
    };
    let token = dispatch::execute::<SourceFolder>(
        &state.source_folders,
        &folder_id.to_string(),
        command,
        "CreateSourceFolder",
        context,
    )
    .await?;
    Ok((folder_id, token))
}

/// Renames and/or moves folder `id`; a folder never goes under itself.
///
/// # Errors
/// Not found, not a writer, a parent that is not the project's or lies
/// under the folder, a failing database.
pub async fn change_folder(
    state: &CommandState,
    context: &CommandContext,
    actor: Uuid,
    id: Uuid,
    change: Change,
) -> Result<ConsistencyToken, AppError> {
    let project = folder_project(state, id).await?;
    let access = writer_access(state, project, actor).await?;
    let key = id.to_string();
    let mut token = None;
    if let Some(name) = change.name {
        let command = FolderCommand::Rename { name, actor, access };
        token = Some(
            dispatch::execute::<SourceFolder>(
                &state.source_folders,
                &key,
                command,
                "RenameSourceFolder",
                context,
            )
            .await?,
        );
    }
    if let Some(parent_id) = change.place {
        let (_turn, client) = held_still(state, project).await?;
        require_folder(&client, project, parent_id, "parent_id").await?;
        let parent_ancestors = match parent_id {
            Some(parent) => structure::ancestors(&client, parent).await?,
            None => Vec::new(),
        };
        let command = FolderCommand::Move {
            parent_id,
            parent_ancestors,
            actor,
            access,
        };
        token = Some(
            dispatch::execute::<SourceFolder>(
                &state.source_folders,
                &key,
                command,
                "MoveSourceFolder",
                context,
            )
            .await?,
        );
    }
    match token {
        Some(token) => Ok(token),
        None => {
            as_it_stands(
                &state.source_folders,
                id,
                |f: &SourceFolder| f.removed,
                "folder not found",
            )
            .await
        }
    }
}

/// Deletes folder `id` when it holds nothing (409 otherwise).
///
/// # Errors
/// Not found, not a writer, not empty, a failing database.
pub async fn remove_folder(
    state: &CommandState,
    context: &CommandContext,
    actor: Uuid,
    id: Uuid,
) -> Result<ConsistencyToken, AppError> {
    let project = folder_project(state, id).await?;
    let access = writer_access(state, project, actor).await?;
    let (_turn, client) = held_still(state, project).await?;
    let holds = structure::holds(&client, id).await?;
    let command = FolderCommand::Remove { holds, actor, access };
    dispatch::execute::<SourceFolder>(
        &state.source_folders,
        &id.to_string(),
        command,
        "RemoveSourceFolder",
        context,
    )
    .await
}
