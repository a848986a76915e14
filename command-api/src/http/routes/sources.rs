//! The source write routes: upload a file, rename or move it, delete it;
//! create, rename, move and delete folders.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::{Body, Request};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use zekka_domain::source::{MediaType, SourceName};
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Label, Text};

use super::{CommandTags, NoContent, Written, WrittenResponse};
use crate::app::sources::{self, Change, NewSource};
use crate::app::state::CommandState;
use crate::http::{self, limits};

/// Writing a project's sources and folders.
pub struct SourceCommandApi {
    state: Arc<CommandState>,
}

impl SourceCommandApi {
    /// The routes over `state`.
    pub fn new(state: Arc<CommandState>) -> Self {
        Self { state }
    }
}

/// A source just stored.
#[derive(Debug, Object)]
struct SourceAdded {
    id: Uuid,
    project_id: Uuid,
    name: String,
    /// `null` at the project's top level.
    folder_id: Option<Uuid>,
    size_bytes: u64,
    /// As the upload's `Content-Type` said (parameters dropped);
    /// `application/octet-stream` when it said nothing usable.
    media_type: String,
    /// The SHA-256 of the bytes, lowercase hex (also the download's `ETag`).
    sha256: String,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum SourceCreated {
    /// Stored and recorded.
    #[oai(status = 201)]
    Created(Json<SourceAdded>, #[oai(header = "X-Consistency-Token")] String),
}

/// A new name and/or folder for a source.
#[derive(Debug, Object)]
struct SourcePatch {
    /// 1 to 255 characters, no `/`.
    name: Option<Text<Label<255>>>,
    /// The folder to move it to; `null` for the project's top level.
    folder_id: MaybeUndefined<Uuid>,
}

/// A new folder.
#[derive(Debug, Object)]
struct FolderRequest {
    /// 1 to 255 characters, no `/`.
    name: Text<Label<255>>,
    /// The folder to create it in; absent or `null` for the top level.
    parent_id: Option<Uuid>,
}

/// A created folder.
#[derive(Debug, Object)]
struct FolderCreated {
    id: Uuid,
    name: String,
    parent_id: Option<Uuid>,
    /// Send back in `X-Consistency-Token` to read this write.
    consistency_token: String,
}

#[derive(ApiResponse)]
enum FolderCreatedResponse {
    /// Created.
    #[oai(status = 201)]
    Created(Json<FolderCreated>, #[oai(header = "X-Consistency-Token")] String),
}

/// A new name and/or parent for a folder.
#[derive(Debug, Object)]
struct FolderPatch {
    /// 1 to 255 characters, no `/`.
    name: Option<Text<Label<255>>>,
    /// The folder to move it under; `null` for the top level.
    parent_id: MaybeUndefined<Uuid>,
}

/// The `file` part of a multipart body: its filename, its media type and
/// its bytes (streamed; the parts before it are skipped).
async fn file_part(req: &Request, body: Body) -> Result<(Option<String>, MediaType, Body), Problem> {
    let mut request_body = poem::RequestBody::new(body);
    let mut multipart = <poem::web::Multipart as poem::FromRequest>::from_request(req, &mut request_body)
        .await
        .map_err(|error| Problem::bad_request(format!("the multipart body does not read: {error}")))?;
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|error| Problem::bad_request(format!("the multipart body does not read: {error}")))?;
        let Some(field) = field else {
            return Err(Problem::invalid_field(zekka_domain::FieldError::new(
                "file",
                "a multipart upload needs a `file` part",
            )));
        };
        if field.name() == Some("file") {
            let file_name = field.file_name().map(str::to_owned);
            let media_type = MediaType::parse_or_default(field.content_type());
            return Ok((
                file_name,
                media_type,
                Body::from_async_read(field.into_async_read()),
            ));
        }
    }
}

fn name(field: &str, raw: &str) -> Result<SourceName, Problem> {
    SourceName::parse(field, raw).map_err(Problem::invalid_field)
}

fn place(raw: &MaybeUndefined<Uuid>) -> Option<Option<Uuid>> {
    match raw {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(id) => Some(Some(*id)),
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "CommandTags::Sources")]
impl SourceCommandApi {
    /// Upload a file of at most 50 MB: its bytes as the body, with its
    /// media type as `Content-Type` and its name in `?name=`; or a
    /// `multipart/form-data` body whose `file` part is the file (its
    /// filename and type are used unless `?name=` names it). Members and
    /// above.
    #[oai(
        path = "/projects/:id/sources",
        method = "post",
        operation_id = "uploadSource"
    )]
    async fn upload(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        /// The file's name: 1 to 255 characters, no `/` (required unless a
        /// multipart `file` part carries a filename).
        name: Query<Option<Text<Label<255>>>>,
        /// The folder to put it in; absent for the top level.
        folder_id: Query<Option<Uuid>>,
        body: Binary<Body>,
    ) -> Result<SourceCreated, Problem> {
        let actor = auth.0.user_id;
        let content_type = req
            .headers()
            .get(poem::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let is_multipart = content_type.as_deref().is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
        let (file_name, media_type, body) = if is_multipart {
            file_part(req, body.0).await?
        } else {
            (None, MediaType::parse_or_default(content_type.as_deref()), body.0)
        };
        let name = match (name.0.as_deref(), file_name.as_deref()) {
            (Some(raw), _) | (None, Some(raw)) => self::name("name", raw)?,
            (None, None) => {
                return Err(Problem::invalid_field(zekka_domain::FieldError::new(
                    "name",
                    "is required (or send a multipart `file` part with a filename)",
                )));
            }
        };
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let new = NewSource {
            project_id: id.0,
            folder_id: folder_id.0,
            name: name.clone(),
            media_type: media_type.clone(),
        };
        let body = body.into_bytes_stream();
        let added = sources::add(&self.state, &context, actor, new, Box::pin(body)).await?;
        let token = added.token.to_string();
        Ok(SourceCreated::Created(
            Json(SourceAdded {
                id: added.source_id,
                project_id: id.0,
                name: name.as_str().to_owned(),
                folder_id: folder_id.0,
                size_bytes: added.blob.size_bytes,
                media_type: media_type.as_str().to_owned(),
                sha256: added.blob.sha256,
                created_by: actor,
                created_at: Utc::now(),
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Rename a source and/or move it to another folder. Members and above.
    #[oai(path = "/sources/:id", method = "patch", operation_id = "updateSource")]
    async fn update(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SourcePatch>,
    ) -> Result<WrittenResponse, Problem> {
        let actor = auth.0.user_id;
        let change = Change {
            name: body.name.as_deref().map(|raw| name("name", raw)).transpose()?,
            place: place(&body.folder_id),
        };
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let token = sources::change_source(&self.state, &context, actor, id.0, change).await?;
        Ok(Written::ok(id.0, token.to_string()))
    }

    /// Delete a source. Members and above.
    #[oai(path = "/sources/:id", method = "delete", operation_id = "deleteSource")]
    async fn delete(&self, req: &Request, auth: BearerAuth, id: Path<Uuid>) -> Result<NoContent, Problem> {
        let actor = auth.0.user_id;
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let token = sources::remove_source(&self.state, &context, actor, id.0).await?;
        Ok(NoContent::Done(token.to_string()))
    }

    /// Create a folder, at the top or in another folder. Members and above.
    #[oai(
        path = "/projects/:id/source-folders",
        method = "post",
        operation_id = "createSourceFolder"
    )]
    async fn create_folder(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<FolderRequest>,
    ) -> Result<FolderCreatedResponse, Problem> {
        let actor = auth.0.user_id;
        let folder_name = name("name", &body.name)?;
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let (folder_id, token) = sources::create_folder(
            &self.state,
            &context,
            actor,
            id.0,
            folder_name.clone(),
            body.parent_id,
        )
        .await?;
        let token = token.to_string();
        Ok(FolderCreatedResponse::Created(
            Json(FolderCreated {
                id: folder_id,
                name: folder_name.as_str().to_owned(),
                parent_id: body.parent_id,
                consistency_token: token.clone(),
            }),
            token,
        ))
    }

    /// Rename a folder and/or move it under another (never under itself).
    #[oai(
        path = "/source-folders/:id",
        method = "patch",
        operation_id = "updateSourceFolder"
    )]
    async fn update_folder(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<FolderPatch>,
    ) -> Result<WrittenResponse, Problem> {
        let actor = auth.0.user_id;
        let change = Change {
            name: body.name.as_deref().map(|raw| name("name", raw)).transpose()?,
            place: place(&body.parent_id),
        };
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let token = sources::change_folder(&self.state, &context, actor, id.0, change).await?;
        Ok(Written::ok(id.0, token.to_string()))
    }

    /// Delete a folder; 409 while it holds sources or folders.
    #[oai(
        path = "/source-folders/:id",
        method = "delete",
        operation_id = "deleteSourceFolder"
    )]
    async fn delete_folder(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<NoContent, Problem> {
        let actor = auth.0.user_id;
        limits::writes(&self.state, actor).await?;
        let context = http::context(req, Some(actor));
        let token = sources::remove_folder(&self.state, &context, actor, id.0).await?;
        Ok(NoContent::Done(token.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_place_changes_nothing_and_null_is_the_top() {
        assert_eq!(place(&MaybeUndefined::Undefined), None);
        assert_eq!(place(&MaybeUndefined::Null), Some(None));
        let id = Uuid::from_u128(1);
        assert_eq!(place(&MaybeUndefined::Value(id)), Some(Some(id)));
    }
}
