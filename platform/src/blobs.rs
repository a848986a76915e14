//! Where sources' bytes live: an object store (the `object_store` crate: a
//! local directory by default, S3 and the other clouds behind the same
//! API), content-addressed per project: `projects/{project}/{sha256}`. The
//! same bytes uploaded twice to one project are kept once.
//!
//! An upload streams into a staging object while its SHA-256 and size are
//! counted, and is renamed to its address only when complete and within the
//! limit: a refused or broken upload leaves no blob. A blob that no live
//! source names any more is removed by the sweeper only when it is older
//! than a grace period, so an upload of the same bytes racing the sweep
//! (its blob written, its event not yet) keeps it.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Parts of an upload are written in pieces of this size (S3's multipart
/// minimum is 5 MiB); at most [`PARTS_IN_FLIGHT`] at once, so an upload
/// holds about 10 MiB of memory however large it is.
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts written concurrently.
const PARTS_IN_FLIGHT: usize = 2;

/// Why storing or reading bytes failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The upload is larger than allowed; nothing was kept.
    #[error("the upload is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The client's body broke off.
    #[error("the upload broke off: {0}")]
    Body(String),
    /// No such blob.
    #[error("no such content")]
    NotFound,
    /// The range asked for is outside the content.
    #[error("the range is outside the content")]
    RangeNotSatisfiable,
    /// The object store failed.
    #[error("the object store failed: {0}")]
    Store(object_store::Error),
    /// The store is configured wrongly.
    #[error("{0}")]
    Config(String),
}

impl From<object_store::Error> for BlobError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => BlobError::NotFound,
            other => BlobError::Store(other),
        }
    }
}

/// Bytes that were stored: what they are kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Their SHA-256, lowercase hex.
    pub sha256: String,
    /// Their size.
    pub size_bytes: u64,
}

/// Bytes written to a staging object, not yet at their address.
#[derive(Debug)]
pub struct StagedBlob {
    staging: Path,
    /// Their digest and size.
    pub blob: StoredBlob,
}

/// A blob as the sweeper sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// The project it belongs to.
    pub project_id: Uuid,
    /// Its digest.
    pub sha256: String,
    /// When it was last written.
    pub written_at: DateTime<Utc>,
}

/// The bytes of one blob, or of a range of it, as a stream.
pub struct BlobRead {
    /// The bytes.
    pub stream: futures_util::stream::BoxStream<'static, Result<Bytes, BlobError>>,
    /// The range returned.
    pub range: Range<u64>,
    /// The whole blob's size.
    pub total_bytes: u64,
}

/// The object store the sources' bytes are kept in.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blobs({})", self.store)
    }
}

/// Where a project's blob with `sha256` is kept.
fn address(project: Uuid, sha256: &str) -> Path {
    Path::from(format!("projects/{project}/{sha256}"))
}

impl Blobs {
    /// Blobs kept in the local directory `dir` (created when missing).
    ///
    /// # Errors
    /// When the directory cannot be created or opened.
    pub fn local(dir: &FsPath) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir)
            .map_err(|error| BlobError::Config(format!("{}: {error}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        Ok(Self::over(Arc::new(store)))
    }

    /// The store the configuration names: the bucket of `SOURCES_URL`
    /// (`s3://bucket[/prefix]`) when set, else the directory `SOURCES_DIR`.
    ///
    /// # Errors
    /// A `SOURCES_URL` that is not `s3://…`, S3 settings that do not
    /// build a client, or a directory that cannot be made.
    pub fn from_config(config: &crate::Config) -> Result<Self, BlobError> {
        let Some(url) = config.sources_url.as_deref() else {
            return Self::local(&config.sources_dir);
        };
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(BlobError::Config(format!(
                "SOURCES_URL must be s3://bucket or s3://bucket/prefix, not {url}"
            )));
        };
        let (bucket, prefix) = match rest.split_once('/') {
            Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
            None => (rest, ""),
        };
        if bucket.is_empty() {
            return Err(BlobError::Config("SOURCES_URL names no bucket".into()));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&config.sources_s3_region)
            .with_allow_http(config.sources_s3_allow_http);
        if let Some(endpoint) = &config.sources_s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key_id) = &config.sources_s3_access_key_id {
            builder = builder.with_access_key_id(key_id);
        }
        if let Some(secret) = &config.sources_s3_secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        let store = builder
            .build()
            .map_err(|error| BlobError::Config(error.to_string()))?;
        Ok(if prefix.is_empty() {
            Self::over(Arc::new(store))
        } else {
            Self::over(Arc::new(PrefixStore::new(store, prefix)))
        })
    }

    /// Blobs kept in `store` (any `object_store` backend).
    pub fn over(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Streams `body` into a staging object, counting its SHA-256 and
    /// size; more than `limit` bytes is [`BlobError::TooLarge`] and keeps
    /// nothing. [`Blobs::commit`] then puts it at its address.
    ///
    /// # Errors
    /// Too large, a broken body, or a failing store: in every case nothing
    /// is kept.
    pub async fn stage<S, E>(&self, body: S, limit: u64) -> Result<StagedBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let staging = Path::from(format!("staging/{}", Uuid::now_v7()));
        let upload = self.store.put_multipart(&staging).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        match Self::copy(body, &mut writer, limit).await {
            Ok((hasher, size_bytes)) => {
                writer.finish().await?;
                Ok(StagedBlob {
                    staging,
                    blob: StoredBlob {
                        sha256: hex::encode(hasher.finalize()),
                        size_bytes,
                    },
                })
            }
            Err(error) => {
                // The multipart upload is abandoned; a failure here leaves
                // only parts the store itself cleans up.
                let _ = writer.abort().await;
                Err(error)
            }
        }
    }

    /// Puts a staged blob at `project`'s address for its digest (replacing
    /// the same bytes when they are there already).
    ///
    /// # Errors
    /// When the store fails; the staging object is then removed.
    pub async fn commit(&self, project: Uuid, staged: StagedBlob) -> Result<StoredBlob, BlobError> {
        if let Err(error) = self
            .store
            .rename(&staged.staging, &address(project, &staged.blob.sha256))
            .await
        {
            let _ = self.store.delete(&staged.staging).await;
            return Err(error.into());
        }
        Ok(staged.blob)
    }

    /// Drops a staged blob that will not be committed.
    pub async fn discard(&self, staged: StagedBlob) {
        let _ = self.store.delete(&staged.staging).await;
    }

    /// [`Blobs::stage`] then [`Blobs::commit`].
    ///
    /// # Errors
    /// As those.
    pub async fn store<S, E>(&self, project: Uuid, body: S, limit: u64) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let staged = self.stage(body, limit).await?;
        self.commit(project, staged).await
    }

    async fn copy<S, E>(
        mut body: S,
        writer: &mut WriteMultipart,
        limit: u64,
    ) -> Result<(Sha256, u64), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| BlobError::Body(error.to_string()))?;
            size = size.saturating_add(chunk.len() as u64);
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            hasher.update(&chunk);
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            writer.put(chunk);
        }
        Ok((hasher, size))
    }

    /// The bytes of `project`'s blob `sha256`, or of `range` of them.
    ///
    /// # Errors
    /// Not found, a range outside the blob, or a failing store.
    pub async fn read(
        &self,
        project: Uuid,
        sha256: &str,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead, BlobError> {
        let location = address(project, sha256);
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&location, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotModified { .. }) => return Err(BlobError::NotFound),
            Err(error) if is_range_error(&error) => return Err(BlobError::RangeNotSatisfiable),
            Err(error) => return Err(error.into()),
        };
        let range = result.range.clone();
        let total_bytes = result.meta.size;
        let stream = result
            .into_stream()
            .map(|chunk| chunk.map_err(BlobError::from))
            .boxed();
        Ok(BlobRead {
            stream,
            range,
            total_bytes,
        })
    }

    /// At most `max_bytes` from the start of `project`'s blob `sha256`, in
    /// memory: what the search index reads of a text source.
    ///
    /// # Errors
    /// Not found, or a failing store.
    pub async fn read_prefix(
        &self,
        project: Uuid,
        sha256: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, BlobError> {
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let mut read = self.read(project, sha256, Some(0..max_bytes)).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = read.stream.next().await {
            let chunk = chunk?;
            let room = limit.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if bytes.len() >= limit {
                break;
            }
        }
        Ok(bytes)
    }

    /// Every blob kept, for the sweeper.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn list(&self) -> Result<Vec<BlobEntry>, BlobError> {
        let prefix = Path::from("projects");
        let mut listing = self.store.list(Some(&prefix));
        let mut entries = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let mut parts = meta.location.parts();
            let (Some(_), Some(project), Some(sha256)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Ok(project_id) = Uuid::parse_str(project.as_ref()) else {
                continue;
            };
            entries.push(BlobEntry {
                project_id,
                sha256: sha256.as_ref().to_owned(),
                written_at: meta.last_modified,
            });
        }
        Ok(entries)
    }

    /// Every object kept, blobs and staging alike, by path (what a test
    /// checks is left after a refused upload).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn list_all(&self) -> Result<Vec<String>, BlobError> {
        let mut listing = self.store.list(None);
        let mut paths = Vec::new();
        while let Some(meta) = listing.next().await {
            paths.push(meta?.location.to_string());
        }
        paths.sort();
        Ok(paths)
    }

    /// Removes `project`'s blob `sha256` (nothing when it is gone already).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn remove(&self, project: Uuid, sha256: &str) -> Result<(), BlobError> {
        match self.store.delete(&address(project, sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// Whether the store refused a range as outside the object.
fn is_range_error(error: &object_store::Error) -> bool {
    let text = error.to_string();
    text.contains("range") || text.contains("Range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&[u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
    }

    fn memory() -> Blobs {
        Blobs::over(Arc::new(object_store::memory::InMemory::new()))
    }

    #[tokio::test]
    async fn bytes_are_kept_under_their_digest_once_and_read_back_by_range() {
        let blobs = memory();
        let project = Uuid::now_v7();
        let stored = blobs
            .store(project, body(&[b"hello ", b"world"]), 100)
            .await
            .expect("stored");
        assert_eq!(stored.size_bytes, 11);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(b"hello world")));
        let again = blobs
            .store(project, body(&[b"hello world"]), 100)
            .await
            .expect("stored");
        assert_eq!(again, stored);
        assert_eq!(blobs.list().await.expect("list").len(), 1);
        let read = blobs
            .read(project, &stored.sha256, Some(6..11))
            .await
            .expect("read");
        let bytes: Vec<Bytes> = read.stream.map(|c| c.expect("chunk")).collect().await;
        assert_eq!(bytes.concat(), b"world");
        assert_eq!((read.range, read.total_bytes), (6..11, 11));
    }

    #[tokio::test]
    async fn an_upload_over_the_limit_keeps_nothing() {
        let blobs = memory();
        let refused = blobs.store(Uuid::now_v7(), body(&[b"12345", b"6"]), 5).await;
        assert!(
            matches!(refused, Err(BlobError::TooLarge { limit: 5 })),
            "{refused:?}"
        );
        assert!(blobs.list().await.expect("list").is_empty());
        let mut all = blobs.store.list(None);
        assert!(all.next().await.is_none(), "a staging object was left behind");
    }
}
