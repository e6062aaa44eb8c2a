//! Metadata storage: the [`MetaStore`] trait and its engines.

mod sqlite;

pub use sqlite::SqliteStore;

use serde::Serialize;

/// One stored image or video. Holds names, never URLs or server paths:
/// URLs are computed per answer from the configured base URL.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRecord {
    /// Stored name (unique, path-safe, checked by the host).
    pub name: String,
    /// Owner id (the principal that uploaded it).
    pub owner: String,
    /// Size in bytes of the stored file.
    pub size: u64,
    /// Lower-case hex SHA-256 of the stored bytes.
    pub digest: String,
    /// "image", "animation" or "video".
    pub kind: String,
    /// Format as the policy found it, e.g. "png".
    pub format: String,
    /// MIME type served.
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub duration_ms: Option<u64>,
    /// The client's file name (untrusted; only ever shown back, never used as a path).
    pub original_name: String,
    /// Receive time, seconds since the epoch (the original's `time`).
    pub time: f64,
}

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another record already has this name.
    #[error("name already taken")]
    NameTaken,
    /// The owner already stored these bytes, under the given name.
    #[error("duplicate content, stored as {0}")]
    Duplicate(String),
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Backend(String),
}

/// A page of records and the total count.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<ImageRecord>,
    pub total: u64,
}

/// Image metadata storage. Engines must order listings newest first with a
/// stable tie-break (insertion order), and enforce unique names and unique
/// (owner, digest) pairs.
#[async_trait::async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Creates tables and indexes if missing (idempotent).
    async fn init(&self) -> Result<(), StoreError>;
    /// Inserts a record; fails with `NameTaken` or `Duplicate`.
    async fn insert(&self, record: &ImageRecord) -> Result<(), StoreError>;
    async fn get(&self, name: &str) -> Result<Option<ImageRecord>, StoreError>;
    async fn find_by_digest(&self, owner: &str, digest: &str) -> Result<Option<ImageRecord>, StoreError>;
    /// One page of an owner's records, newest first.
    async fn list(&self, owner: &str, offset: u64, limit: u64) -> Result<Page, StoreError>;
    /// Deletes a record; false if there was none.
    async fn delete(&self, name: &str) -> Result<bool, StoreError>;
    /// Every stored name (start-up reconciliation).
    async fn all_names(&self) -> Result<Vec<String>, StoreError>;
    /// Whether a record has this name.
    fn exists_blocking(&self, name: &str) -> Result<bool, StoreError>;
}
