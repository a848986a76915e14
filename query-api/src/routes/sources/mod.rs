//! Reading a project's sources: listings, metadata, the folder tree, and
//! the bytes (with `ETag` and `Range`). Members of the project only (others
//! get 404), viewers included.

mod range;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use poem::Body;
use poem::http::StatusCode;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tokio_postgres::Row;
use uuid::Uuid;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::blobs::BlobError;
use zekka_platform::input::{Text, TokenHeader, UuidFormat};

use self::range::Wanted;
use super::QueryTags;
use crate::paging;
use crate::rows;
use crate::state::QueryState;

/// The read models a source answer depends on.
const MODELS: [&str; 2] = ["sources", "projects"];

/// Reading sources.
pub struct SourceQueryApi {
    state: Arc<QueryState>,
}

impl SourceQueryApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// A source's metadata.
#[derive(Debug, Object)]
struct SourceView {
    id: Uuid,
    project_id: Uuid,
    name: String,
    /// `null` at the project's top level.
    folder_id: Option<Uuid>,
    size_bytes: i64,
    media_type: String,
    /// The SHA-256 of the bytes, lowercase hex (the download's `ETag`).
    sha256: String,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One page of sources.
#[derive(Debug, Object)]
struct SourcePage {
    items: Vec<SourceView>,
    next_cursor: Option<String>,
}

/// A folder and how many sources it holds directly.
#[derive(Debug, Object)]
struct FolderView {
    id: Uuid,
    name: String,
    /// `null` at the project's top level.
    parent_id: Option<Uuid>,
    /// Sources directly in it.
    sources: i64,
}

/// Every folder of a project.
#[derive(Debug, Object)]
struct FolderList {
    items: Vec<FolderView>,
}

const COLUMNS: &str = "s.source_id, s.project_id, s.name, s.folder_id, s.size_bytes, s.media_type, s.sha256,
     s.created_by, s.created_at, s.updated_at";

fn source_view(row: &Row) -> Result<SourceView, tokio_postgres::Error> {
    Ok(SourceView {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        name: row.try_get(2)?,
        folder_id: row.try_get(3)?,
        size_bytes: row.try_get(4)?,
        media_type: row.try_get(5)?,
        sha256: row.try_get(6)?,
        created_by: row.try_get(7)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
    })
}

/// A source's bytes as a response body: of any media type (the source's
/// own, set by the `Content-Type` header of [`Content`]).
struct SourceBytes(Body);

impl poem_openapi::payload::Payload for SourceBytes {
    const CONTENT_TYPE: &'static str = "*/*";

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(poem_openapi::registry::MetaSchema {
            format: Some("binary"),
            ..poem_openapi::registry::MetaSchema::new("string")
        }))
    }
}

impl poem::IntoResponse for SourceBytes {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().body(self.0)
    }
}

/// A range outside the content, as a problem document (documented on this
/// route alone, with its `Content-Range`).
struct RangeProblem(Problem);

impl poem_openapi::payload::Payload for RangeProblem {
    const CONTENT_TYPE: &'static str = zekka_platform::problem::PROBLEM_JSON;

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        <zekka_platform::problem::ProblemDetails as poem_openapi::types::Type>::schema_ref()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        <zekka_platform::problem::ProblemDetails as poem_openapi::types::Type>::register(registry);
    }
}

impl poem::IntoResponse for RangeProblem {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

/// The bytes of a source.
#[derive(ApiResponse)]
enum Content {
    /// The whole content.
    #[oai(status = 200)]
    Whole(
        SourceBytes,
        /// The source's media type.
        #[oai(header = "Content-Type")]
        String,
        /// The SHA-256 of the bytes, quoted.
        #[oai(header = "ETag")]
        String,
        /// `bytes`: one range may be asked for.
        #[oai(header = "Accept-Ranges")]
        String,
        /// `attachment`, with the source's name.
        #[oai(header = "Content-Disposition")]
        String,
    ),
    /// The range asked for.
    #[oai(status = 206)]
    Part(
        SourceBytes,
        /// The source's media type.
        #[oai(header = "Content-Type")]
        String,
        /// The SHA-256 of the bytes, quoted.
        #[oai(header = "ETag")]
        String,
        /// `bytes first-last/size`.
        #[oai(header = "Content-Range")]
        String,
    ),
    /// The range asked for lies wholly past the end.
    #[oai(status = 416)]
    Unsatisfiable(
        RangeProblem,
        /// `bytes */size`.
        #[oai(header = "Content-Range")]
        String,
    ),
    /// `If-None-Match` named this content.
    #[oai(status = 304)]
    NotModified(
        /// The SHA-256 of the bytes, quoted.
        #[oai(header = "ETag")]
        String,
    ),
}

/// `attachment; filename*=UTF-8''…`, the name percent-encoded (RFC 6266).
fn disposition(name: &str) -> String {
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename*=UTF-8''{encoded}")
}

fn blob_problem(error: BlobError) -> Problem {
    match error {
        BlobError::NotFound => Problem::not_found("the source's content is missing from the store"),
        other => Problem::unavailable(format!("the source store failed: {other}"), 2),
    }
}

impl SourceQueryApi {
    /// Source `id`, when the caller may read its project.
    async fn source(&self, auth: &BearerAuth, id: Uuid, token: Option<&str>) -> Result<SourceView, Problem> {
        self.state.catch_up(auth.0.user_id, token, &MODELS).await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM rm_sources s
                   JOIN visible_projects($1) v ON v.project_id = s.project_id
                  WHERE s.source_id = $2"
            ))
            .await
            .map_err(Problem::from_db)?;
        let row = client
            .query_opt(&statement, &[&auth.0.user_id, &id])
            .await
            .map_err(Problem::from_db)?
            .ok_or_else(|| Problem::not_found("source not found"))?;
        source_view(&row).map_err(Problem::from_db)
    }

    /// Refuses a project the caller is not a member of (404).
    async fn require_visible(&self, auth: &BearerAuth, project: Uuid) -> Result<(), Problem> {
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let statement = client
            .prepare_cached("SELECT 1 FROM visible_projects($1) v WHERE v.project_id = $2")
            .await
            .map_err(Problem::from_db)?;
        client
            .query_opt(&statement, &[&auth.0.user_id, &project])
            .await
            .map_err(Problem::from_db)?
            .map(|_| ())
            .ok_or_else(|| Problem::not_found("project not found"))
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "QueryTags::Sources")]
impl SourceQueryApi {
    /// A project's sources, oldest first: those of one folder, or all.
    #[oai(path = "/projects/:id/sources", method = "get", operation_id = "listSources")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        /// Only the sources directly in this folder.
        folder_id: Query<Option<Uuid>>,
        limit: Query<Option<paging::PageLimit>>,
        cursor: Query<Option<Text<UuidFormat>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<SourcePage>, Problem> {
        let limit = paging::limit(limit.0)?;
        let after = paging::uuid_cursor(cursor.0.as_deref())?;
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &MODELS)
            .await?;
        self.require_visible(&auth, id.0).await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let views = rows::query_map(
            &client,
            &format!(
                "SELECT {COLUMNS} FROM rm_sources s
                   JOIN visible_projects($1) v ON v.project_id = s.project_id
                  WHERE s.project_id = $2
                    AND ($3::uuid IS NULL OR s.folder_id = $3)
                    AND ($4::uuid IS NULL OR s.source_id > $4)
                  ORDER BY s.source_id LIMIT $5"
            ),
            &[&auth.0.user_id, &id.0, &folder_id.0, &after, &(limit + 1)],
            source_view,
        )
        .await?;
        let (items, next_cursor) = paging::page(views, limit, |s| s.id.to_string());
        Ok(Json(SourcePage { items, next_cursor }))
    }

    /// One source's metadata.
    #[oai(path = "/sources/:id", method = "get", operation_id = "getSource")]
    async fn get(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<SourceView>, Problem> {
        Ok(Json(
            self.source(&auth, id.0, consistency_token.0.as_deref()).await?,
        ))
    }

    /// A source's bytes, streamed: `ETag` is its SHA-256, one `Range` may
    /// be asked for (206), `If-None-Match` with the ETag answers 304.
    #[oai(
        path = "/sources/:id/content",
        method = "get",
        operation_id = "getSourceContent"
    )]
    async fn content(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Range")] range: Header<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Content, Problem> {
        let source = self.source(&auth, id.0, consistency_token.0.as_deref()).await?;
        let etag = format!("\"{}\"", source.sha256);
        if if_none_match
            .0
            .as_deref()
            .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
        {
            return Ok(Content::NotModified(etag));
        }
        let size = u64::try_from(source.size_bytes).unwrap_or(0);
        let wanted = range::wanted(range.0.as_deref(), size);
        let part = match wanted {
            Wanted::Unsatisfiable => {
                return Ok(Content::Unsatisfiable(
                    RangeProblem(Problem::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        format!("the source is {size} bytes long"),
                    )),
                    format!("bytes */{size}"),
                ));
            }
            Wanted::Part(range) => Some(range),
            Wanted::Whole => None,
        };
        // An empty source has no bytes to ask the store for.
        let read = if size == 0 {
            None
        } else {
            Some(
                self.state
                    .blobs
                    .read(source.project_id, &source.sha256, part.clone())
                    .await
                    .map_err(blob_problem)?,
            )
        };
        let body = match read {
            Some(read) => Body::from_bytes_stream(read.stream.map_err(std::io::Error::other)),
            None => Body::empty(),
        };
        Ok(match part {
            Some(range) => Content::Part(
                SourceBytes(body),
                source.media_type,
                etag,
                format!("bytes {}-{}/{size}", range.start, range.end.saturating_sub(1)),
            ),
            None => Content::Whole(
                SourceBytes(body),
                source.media_type,
                etag,
                "bytes".to_owned(),
                disposition(&source.name),
            ),
        })
    }

    /// Every folder of a project, with the number of sources in each.
    #[oai(
        path = "/projects/:id/source-folders",
        method = "get",
        operation_id = "listSourceFolders"
    )]
    async fn folders(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<FolderList>, Problem> {
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &MODELS)
            .await?;
        self.require_visible(&auth, id.0).await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let items = rows::query_map(
            &client,
            "SELECT f.folder_id, f.name, f.parent_id,
                    (SELECT count(*) FROM rm_sources s WHERE s.folder_id = f.folder_id)
               FROM rm_source_folders f
               JOIN visible_projects($1) v ON v.project_id = f.project_id
              WHERE f.project_id = $2
              ORDER BY f.folder_id",
            &[&auth.0.user_id, &id.0],
            |row| {
                Ok(FolderView {
                    id: row.try_get(0)?,
                    name: row.try_get(1)?,
                    parent_id: row.try_get(2)?,
                    sources: row.try_get(3)?,
                })
            },
        )
        .await?;
        Ok(Json(FolderList { items }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_is_named_with_the_name_percent_encoded() {
        assert_eq!(
            disposition("rapport final.pdf"),
            "attachment; filename*=UTF-8''rapport%20final.pdf"
        );
        assert_eq!(disposition("é\"x"), "attachment; filename*=UTF-8''%C3%A9%22x");
    }
}
