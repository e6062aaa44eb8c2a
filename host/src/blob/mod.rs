//! Storage for uploaded bytes: a local temp area where uploads are received, and
//! a [`BlobStore`] holding stored files — a local folder ([`LocalBlobs`]), a chunk
//! collection in MongoDB ([`MongoBlobs`]) or an S3-compatible bucket ([`S3Blobs`]), the
//! last two shared by several hosts.
//!
//! A stored blob is never half-visible and never overwritten: `put_file` either
//! makes the whole file visible under a free name or fails. A record may keep where the
//! store put its blob ([`Located`]), so reads need not look the name up. Path safety is
//! the host's job: every name is checked here, whatever the policy returned.

mod dirsync;
mod hot;
mod local;
pub mod marker;
mod mongo;
mod s3;

pub use dirsync::SharedSync;
pub use hot::HotFiles;
pub use local::LocalBlobs;
pub use mongo::MongoBlobs;
pub use s3::S3Blobs;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::stream::BoxStream;

pub use crate::names::{is_safe_name, thumb_name, MAX_NAME_LEN};

fn unsafe_name() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "unsafe name")
}

/// A stored blob as [`BlobStore::fetch`] found it.
#[derive(Debug)]
pub enum Fetched {
    /// The whole file.
    Small(Bytes),
    /// Too large to hold: its length.
    Large(u64),
}

/// The bytes of a stored blob, in chunks.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// A stored blob as its record knows it: its name and size and, in a store that keeps
/// each blob under a key of its own (S3), that key as [`BlobStore::put_file_as`] answered
/// it. With the key a store reads the blob at once, without looking its name up; without
/// one (other stores, records older than keys) the name is looked up.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    pub name: &'a str,
    pub key: Option<&'a str>,
    /// The record's size (what a keyed read trusts instead of asking the store).
    pub size: u64,
}

impl<'a> Located<'a> {
    /// A blob no record locates (thumbnails, variants): found by its name.
    pub fn by_name(name: &'a str) -> Self {
        Located { name, key: None, size: 0 }
    }
}

/// Where stored files live.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores the file at `path` under `name`, whole or not at all. Fails with
    /// `AlreadyExists` if the name is taken (never overwrites).
    async fn put_file(&self, path: &Path, name: &str) -> io::Result<()>;
    /// [`BlobStore::put_file`] for a file the host checked to be of type `mime` (a store
    /// that keeps a type with each file, like S3, serves it with that type). Returns the
    /// key the blob went under in a store that keeps one per blob (S3), for its record to
    /// keep ([`Located::key`]); None in the others.
    async fn put_file_as(&self, path: &Path, name: &str, mime: &str) -> io::Result<Option<String>> {
        let _ = mime;
        self.put_file(path, name).await.map(|()| None)
    }
    /// Stores `bytes` under `name` (small files: thumbnails), like [`BlobStore::put_file`].
    async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> io::Result<()>;
    /// Removes a stored blob; a missing one is not an error.
    async fn remove(&self, name: &str) -> io::Result<()>;
    /// Removes a stored blob only if it was stored before `before` (a delete noted at
    /// that time must not take a file a later upload stored under the same name).
    async fn remove_before(&self, name: &str, before: SystemTime) -> io::Result<()>;
    /// Size of a stored blob, None if there is none.
    async fn size(&self, name: &str) -> io::Result<Option<u64>>;
    /// `len` bytes of a stored blob from `start` (the caller checked the range).
    async fn read(&self, name: &str, start: u64, len: u64) -> io::Result<ByteStream>;
    /// A stored blob for serving: its bytes when it has at most `small` of them (one
    /// read), else its size (to be streamed with [`BlobStore::read`]). None if missing.
    async fn fetch(&self, name: &str, small: u64) -> io::Result<Option<Fetched>> {
        use futures_util::TryStreamExt;
        let Some(len) = self.size(name).await? else { return Ok(None) };
        if len > small {
            return Ok(Some(Fetched::Large(len)));
        }
        let chunks: Vec<Bytes> = self.read(name, 0, len).await?.try_collect().await?;
        Ok(Some(Fetched::Small(chunks.concat().into())))
    }
    /// [`BlobStore::size`] of a blob its record locates: with its key, the record's size
    /// (a missing object shows when it is read).
    async fn size_located(&self, blob: Located<'_>) -> io::Result<Option<u64>> {
        self.size(blob.name).await
    }
    /// [`BlobStore::read`] of a blob its record locates: with its key, one request.
    async fn read_located(&self, blob: Located<'_>, start: u64, len: u64) -> io::Result<ByteStream> {
        self.read(blob.name, start, len).await
    }
    /// [`BlobStore::fetch`] of a blob its record locates: with its key, at most one request.
    async fn fetch_located(&self, blob: Located<'_>, small: u64) -> io::Result<Option<Fetched>> {
        self.fetch(blob.name, small).await
    }
    /// Every stored name with the blob's age.
    async fn list(&self) -> io::Result<Vec<(String, Duration)>>;
    /// Whether the storage takes writes.
    async fn probe(&self) -> io::Result<()>;
    /// Removes the leftovers of writes interrupted more than [`BlobStore::grace`] ago.
    async fn sweep(&self) -> io::Result<usize>;
    /// How old an unreferenced blob must be before start-up moves it to quarantine:
    /// another host sharing the store may be between writing a blob and recording it.
    fn grace(&self) -> Duration;
    /// Moves a stored blob out of the way, under `quarantine/` (never deleted there but by
    /// the operator's `imgbed fsck --purge-quarantine`) — only if it was stored before
    /// `older_than`. Returns where it went; `NotFound` if it is gone or newer.
    async fn quarantine(&self, name: &str, older_than: SystemTime) -> io::Result<String>;
    /// Moves a quarantined blob back under `name` (never over an existing one).
    async fn restore(&self, entry: &str, name: &str) -> io::Result<()>;
    /// Everything in quarantine.
    async fn quarantined(&self) -> io::Result<Vec<String>>;
    /// Deletes one quarantined blob (as [`BlobStore::quarantined`] names it).
    async fn purge_quarantined(&self, entry: &str) -> io::Result<()>;
    /// Where a client may fetch the blob directly (a public bucket or CDN), if configured:
    /// computed from its key, without a request; None without a key.
    fn public_link(&self, blob: Located<'_>) -> Option<String> {
        let _ = blob;
        None
    }
    /// [`BlobStore::public_link`], looking the name up when the record has no key.
    async fn public_url(&self, blob: Located<'_>) -> io::Result<Option<String>> {
        Ok(self.public_link(blob))
    }
    /// The folder of a local store (start-up keeps the server's own files out of reach).
    fn local_dir(&self) -> Option<&Path> {
        None
    }
}

/// The folder (or name prefix) quarantined blobs go to.
pub const QUARANTINE: &str = "quarantine";

/// Syncs a folder, so the names created or removed in it survive a power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The local folder where uploads are received before they are judged and stored.
#[derive(Debug, Clone)]
pub struct TempArea {
    dir: PathBuf,
}

/// A file being received. Removed on drop.
#[derive(Debug)]
pub struct TempBlob {
    path: PathBuf,
}

impl TempBlob {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl TempArea {
    /// Uses `dir` (created if missing; its parent must exist).
    pub fn open(dir: &Path) -> io::Result<Self> {
        match std::fs::create_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        Ok(TempArea { dir: dir.to_path_buf() })
    }

    /// A fresh temp file path with a random name (the file is created by the caller).
    pub fn temp(&self) -> TempBlob {
        let id: u128 = rand::random();
        TempBlob { path: self.dir.join(format!("{id:032x}.part")) }
    }

    /// Checks that the temp area takes writes: creates and removes a small file.
    pub fn probe(&self) -> io::Result<()> {
        let temp = self.temp();
        std::fs::write(temp.path(), b"ready")?;
        drop(temp);
        Ok(())
    }

    /// Removes every leftover temp file (start-up: nothing is in flight yet on this host).
    pub fn clear(&self) -> io::Result<usize> {
        let mut n = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            std::fs::remove_file(entry?.path())?;
            n += 1;
        }
        Ok(n)
    }
}
