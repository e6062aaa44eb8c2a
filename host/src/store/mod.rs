//! Metadata storage: the [`MetaStore`] trait and its engines.

mod cursor;
pub(crate) mod mongo;
mod record;
mod sqlite;
mod timed;

pub(crate) use cursor::rows_wanted;
pub use cursor::{Cursor, Start};
pub use mongo::MongoStore;
pub use record::{ImageFacts, ImageRecord};
pub use sqlite::SqliteStore;
pub use timed::TimedStore;

/// A connection string with any password replaced by `***`, for messages and logs.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else { return uri.to_string() };
    let host_start = rest.find('/').unwrap_or(rest.len());
    match rest[..host_start].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => uri.to_string(),
    }
}

use serde::Serialize;

/// An account. The token itself is not stored: its claims are, so the same
/// JWT can be re-signed for the recovery mail and revoked by deleting the row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// Normalised mail address (the account id and image owner).
    pub mail: String,
    /// Token id (`jti` claim).
    pub jti: String,
    /// Token issue time (`iat` claim), seconds.
    pub issued_at: i64,
    /// Registration time, seconds since the epoch.
    pub created: f64,
}

/// An account with its usage, for moderation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserUsage {
    pub mail: String,
    pub created: f64,
    pub images: u64,
    pub bytes: u64,
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
    /// An account with this mail already exists.
    #[error("account exists")]
    UserExists,
    /// The uploader's account was removed (or banned) while the upload was in flight.
    #[error("the owner's account is gone")]
    OwnerGone,
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Backend(String),
    /// A listing cursor this engine did not hand out.
    #[error("not a cursor of this listing")]
    BadCursor,
}

/// A page of records and the total count.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<ImageRecord>,
    pub total: u64,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Image metadata storage. Engines must order listings newest first with a
/// stable tie-break (insertion order), and enforce unique names and unique
/// (owner, digest) pairs.
#[async_trait::async_trait]
pub trait ImageStore: Send + Sync + 'static {
    /// Inserts a record; fails with `NameTaken` or `Duplicate`.
    async fn insert(&self, record: &ImageRecord) -> Result<(), StoreError>;
    async fn get(&self, name: &str) -> Result<Option<ImageRecord>, StoreError>;
    async fn find_by_digest(&self, owner: &str, digest: &str) -> Result<Option<ImageRecord>, StoreError>;
    /// (images, bytes) an owner has stored (kept per owner, not counted per request).
    async fn usage(&self, owner: &str) -> Result<(u64, u64), StoreError>;
    /// One page of an owner's records, newest first, from `start`; `BadCursor` for a
    /// cursor the engine cannot read.
    async fn list(&self, owner: &str, start: &Start, limit: u64) -> Result<Page, StoreError>;
    /// Inserts a record like [`ImageStore::insert`], but only while the owner's account
    /// with token id `jti` exists (`None`: no account to check): `OwnerGone` otherwise.
    /// A removal that runs at the same time either removes the record or makes this fail.
    async fn insert_for(&self, record: &ImageRecord, jti: Option<&str>) -> Result<(), StoreError>;
    /// Deletes a record; false if there was none. (Tools only: requests use
    /// [`ImageStore::delete_images`], which leaves a pending delete for the files.)
    async fn delete(&self, name: &str) -> Result<bool, StoreError>;
    /// Whether any record exists.
    async fn has_images(&self) -> Result<bool, StoreError>;
    /// Deletes records and notes their names as pending deletes (atomically on SQLite,
    /// each pending delete before its record on MongoDB). Returns the names that had a record.
    async fn delete_images(&self, names: &[String]) -> Result<Vec<String>, StoreError>;
    /// Names whose record is deleted and whose files may still exist, with the time of
    /// the delete (seconds): only files stored before it belong to the deleted record.
    async fn pending_deletes(&self) -> Result<Vec<(String, f64)>, StoreError>;
    /// Forgets a pending delete once its files are gone.
    async fn clear_pending(&self, name: &str) -> Result<(), StoreError>;
    /// Every stored name (start-up reconciliation).
    async fn all_names(&self) -> Result<Vec<String>, StoreError>;
    /// Whether a record has this name.
    fn exists_blocking(&self, name: &str) -> Result<bool, StoreError>;
    /// (images, bytes) stored by an owner.
    fn usage_blocking(&self, owner: &str) -> Result<(u64, u64), StoreError>;
    /// Names of all of an owner's records.
    async fn names_of_owner(&self, owner: &str) -> Result<Vec<String>, StoreError>;
    /// Replaces the hash of a record's deletion key; false if there is no such record.
    async fn set_delete_key(&self, name: &str, key_hash: &str) -> Result<bool, StoreError>;
    /// Sets the per-owner counters from the records, for engines whose counters can be a
    /// record off after a crash (MongoDB: no transactions); SQLite's are exact (triggers).
    async fn recount_usage(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Accounts: tokens' claims, removal codes, bans and tokens of the original service.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Registers an account; `UserExists` if the mail has one.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    async fn get_user(&self, mail: &str) -> Result<Option<User>, StoreError>;
    /// Deletes an account (not its images); false if there was none. (Tools only.)
    async fn delete_user(&self, mail: &str) -> Result<bool, StoreError>;
    /// Adds the hash of a removal code and its expiry. Earlier codes stay valid (each mail
    /// carries its own code: a new request never cancels a pending link).
    async fn set_check(&self, mail: &str, check_hash: &str, expires: f64) -> Result<(), StoreError>;
    /// How many removal codes were made for `mail` since `since` (a per-recipient throttle).
    async fn recent_checks(&self, mail: &str, since: f64) -> Result<u64, StoreError>;
    /// Whether the code is valid now (does not use it up).
    async fn check_valid(&self, mail: &str, check_hash: &str, now: f64) -> Result<bool, StoreError>;
    /// Uses up the code: true only once, and only before it expires.
    async fn take_check(&self, mail: &str, check_hash: &str, now: f64) -> Result<bool, StoreError>;
    /// Bars a mail from registering again.
    async fn ban(&self, mail: &str, time: f64) -> Result<(), StoreError>;
    async fn is_banned(&self, mail: &str) -> Result<bool, StoreError>;
    /// Every account with its image count and bytes.
    async fn users(&self) -> Result<Vec<UserUsage>, StoreError>;
    /// Every account with its token claims (migration).
    async fn all_users(&self) -> Result<Vec<User>, StoreError>;
    /// Every barred mail with the time it was barred (migration).
    async fn all_bans(&self) -> Result<Vec<(String, f64)>, StoreError>;
    /// Accepts a token of the original service for `mail`: its SHA-256 (hex) is kept,
    /// never the token. Deleting the account deletes it.
    async fn add_legacy_token(&self, mail: &str, token_sha256: &str) -> Result<(), StoreError>;
    /// The account a legacy token (by SHA-256, hex) belongs to.
    async fn legacy_owner(&self, token_sha256: &str) -> Result<Option<String>, StoreError>;
    /// Every (mail, token SHA-256) pair (migration).
    async fn all_legacy_tokens(&self) -> Result<Vec<(String, String)>, StoreError>;
}

/// The whole metadata store: images and accounts, and what spans both (set-up,
/// account removal, values kept beside the records).
#[async_trait::async_trait]
pub trait MetaStore: ImageStore + AccountStore {
    /// Creates tables and indexes if missing (idempotent).
    async fn init(&self) -> Result<(), StoreError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Removes an account, its legacy tokens and its records (their names become pending
    /// deletes). Returns whether the account existed and the names deleted. Never half
    /// done: atomic on SQLite; on MongoDB a half-done removal is finished by
    /// [`MetaStore::finish_removals`].
    async fn remove_account(&self, mail: &str) -> Result<(bool, Vec<String>), StoreError>;
    /// A value kept beside the records (e.g. the id of the image folder they belong to).
    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Finishes account removals a crash interrupted (MongoDB); returns how many.
    async fn finish_removals(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact_uri("mongodb://u:p%40ss@h:1/db?x=1"), "mongodb://u:***@h:1/db?x=1");
        assert_eq!(super::redact_uri("mongodb://h:1/db"), "mongodb://h:1/db");
    }
}
