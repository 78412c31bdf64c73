//! The data plane's blob store: job inputs and results, content-addressed
//! (`sha256/<hex>`), through the `object_store` crate.
//!
//! A local directory is the default (`file:///…` or a bare path); S3-compatible
//! storage is chosen by an `s3://bucket[/prefix]` URL, configured by the usual
//! `AWS_*` variables (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP` for MinIO and the like),
//! so service replicas share blobs the way they share PostgreSQL.
//!
//! Uploads are spooled to a local temporary file and checked first; only data
//! that checks is put, and `object_store` makes a blob visible only once it is
//! whole (a local put writes a staging file and renames it; S3 completes a
//! multipart upload atomically), so a crash never leaves half a blob behind.
//! A local blob is fsynced (file and directory) before it is recorded, so a
//! release the ledger committed never refers to data lost with the power.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use tokio::io::AsyncReadExt;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store {url}: {msg}")]
    Open { url: String, msg: String },
    #[error("blob {key}: {msg}")]
    Io { key: String, msg: String },
    #[error("blob {0} is not in the store")]
    Missing(String),
}

/// Part size of uploads to the store (S3's minimum is 5 MiB).
const PART_BYTES: usize = 8 << 20;

#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    url: String,
    /// The directory of a local store (its blobs are fsynced once put).
    local: Option<std::path::PathBuf>,
}

/// The key of a blob with this SHA-256 (lower-case hex).
pub fn key_of(sha256_hex: &str) -> String {
    format!("sha256/{sha256_hex}")
}

impl BlobStore {
    /// Opens `url`: `s3://bucket[/prefix]`, `file:///dir`, or a directory path
    /// (created if missing).
    pub fn open(url: &str) -> Result<BlobStore, BlobError> {
        let err = |msg: String| BlobError::Open { url: url.to_string(), msg };
        let mut local = None;
        let store: Arc<dyn ObjectStore> = if url.starts_with("s3://") {
            let s3 =
                object_store::aws::AmazonS3Builder::from_env().with_url(url).build().map_err(|e| err(e.to_string()))?;
            let prefix =
                url.trim_start_matches("s3://").split_once('/').map(|(_, p)| p.trim_matches('/')).unwrap_or("");
            if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
            }
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            if dir.is_empty() || dir.contains("://") {
                return Err(err("expected s3://bucket[/prefix], file:///dir or a directory".into()));
            }
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            local = Some(std::path::PathBuf::from(dir));
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| err(e.to_string()))?)
        };
        Ok(BlobStore { store, url: url.to_string(), local })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Size of the blob, `None` if absent.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(BlobError::Io { key: key.into(), msg: e.to_string() }),
        }
    }

    /// Puts the file's bytes under `key` (a content address: a blob already
    /// there with the same size is kept as is).
    pub async fn put_file(&self, key: &str, file: &Path, len: u64) -> Result<(), BlobError> {
        let io = |e: &dyn std::fmt::Display| BlobError::Io { key: key.into(), msg: e.to_string() };
        if self.size(key).await? == Some(len) {
            return self.sync(key).await.map_err(|e| io(&e));
        }
        let mut f = tokio::fs::File::open(file).await.map_err(|e| io(&e))?;
        let upload = self.store.put_multipart(&ObjectPath::from(key)).await.map_err(|e| io(&e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = f.read(&mut buf).await.map_err(|e| io(&e))?;
            if n == 0 {
                break;
            }
            // At most two parts in flight: memory stays a few parts.
            w.wait_for_capacity(2).await.map_err(|e| io(&e))?;
            w.write(&buf[..n]);
        }
        w.finish().await.map_err(|e| io(&e))?;
        self.sync(key).await.map_err(|e| io(&e))
    }

    /// A local blob and its directory reach the disk before the ledger refers to
    /// it (the local store renames a staging file but does not fsync; S3 answers
    /// a completed upload only once it is durable).
    async fn sync(&self, key: &str) -> std::io::Result<()> {
        let Some(dir) = &self.local else { return Ok(()) };
        let path = dir.join(key);
        tokio::task::spawn_blocking(move || {
            std::fs::File::open(&path)?.sync_all()?;
            if let Some(parent) = path.parent() {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The blob's size and its bytes as a stream.
    pub async fn get(&self, key: &str) -> Result<(u64, BoxStream<'static, Result<Bytes, BlobError>>), BlobError> {
        let r = match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::Missing(key.into())),
            Err(e) => return Err(BlobError::Io { key: key.into(), msg: e.to_string() }),
        };
        let size = r.meta.size;
        let k = key.to_string();
        let s = r.into_stream().map(move |c| c.map_err(|e| BlobError::Io { key: k.clone(), msg: e.to_string() }));
        Ok((size, s.boxed()))
    }

    /// Every blob key in the store.
    pub async fn list(&self) -> Result<Vec<String>, BlobError> {
        let mut out = Vec::new();
        let mut s = self.store.list(Some(&ObjectPath::from("sha256")));
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| BlobError::Io { key: "sha256/".into(), msg: e.to_string() })?;
            out.push(m.location.to_string());
        }
        out.sort();
        Ok(out)
    }
}

/// Checks the store holds every blob the ledger refers to. Returns the problems
/// (a reference without its blob) and the orphans (blobs nothing refers to: an
/// upload interrupted between the store and the ledger, or data refused later;
/// harmless, and safe to delete).
pub async fn audit(ledger: &crate::ledger::Ledger, store: &BlobStore) -> Result<(Vec<String>, Vec<String>), BlobError> {
    let refs =
        ledger.referenced_blobs().await.map_err(|e| BlobError::Open { url: store.url.clone(), msg: e.to_string() })?;
    let stored: std::collections::BTreeSet<String> = store.list().await?.into_iter().collect();
    let mut problems = Vec::new();
    let mut referenced = std::collections::BTreeSet::new();
    for (job, key) in refs {
        if !stored.contains(&key) {
            problems.push(format!("{job}: blob {key} is referenced but not stored"));
        }
        referenced.insert(key);
    }
    let orphans = stored.difference(&referenced).cloned().collect();
    Ok((problems, orphans))
}
