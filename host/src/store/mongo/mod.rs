//! MongoDB engine (the official async driver): the same answers as SQLite.
//!
//! Collections `images`, `users` and `bans`, with unique indexes where SQLite has
//! keys (image name, owner + digest, mail). Listings sort by time then `_id`
//! (ObjectIds grow with insertion), as SQLite sorts by time then row id.
//! Every operation is bounded by `database.timeout_ms` ([`super::TimedStore`] for
//! requests, here for the policy's blocking queries).

mod accounts;
mod codes;
mod durable;
mod owners;

use std::time::Duration;

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

use super::{rows_wanted, Cursor, ImageRecord, ImageStore, MetaStore, Page, Start, StoreError, User};
use crate::mongo::{is_duplicate, number};

/// Metadata in a MongoDB database.
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    images: Collection<Document>,
    users: Collection<Document>,
    bans: Collection<Document>,
    legacy: Collection<Document>,
    /// Pending deletes: names whose record is gone and whose files may remain.
    pending: Collection<Document>,
    /// Account removals begun and not yet finished.
    removals: Collection<Document>,
    /// Values kept beside the records (`_id` = key).
    meta: Collection<Document>,
    /// Account-removal codes (hashed), several per account.
    codes: Collection<Document>,
    /// Per-owner counts and bytes (`_id` = owner; see `owners`).
    owners: Collection<Document>,
    /// Bound on each blocking query.
    limit: Duration,
    /// For the blocking queries the policy makes from its own threads.
    runtime: tokio::runtime::Handle,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Runs `work` in a task of its own: a caller going away (or timed out) does not stop it
/// half-way.
async fn to_the_end<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::spawn(work).await.unwrap_or_else(|e| Err(backend(e)))
}

fn float(d: &Document, key: &str) -> f64 {
    match d.get(key) {
        Some(Bson::Double(n)) => *n,
        Some(Bson::Int32(n)) => f64::from(*n),
        Some(Bson::Int64(n)) => *n as f64,
        _ => 0.0,
    }
}

fn text(d: &Document, key: &str) -> String {
    d.get_str(key).unwrap_or_default().to_string()
}

fn optional_text(d: &Document, key: &str) -> Option<String> {
    d.get_str(key).ok().map(str::to_string)
}

/// The document of a record: its fields under their own names (serde), integers as
/// 64-bit, absent options left out.
fn record_doc(r: &ImageRecord) -> Document {
    mongodb::bson::to_document(r).expect("a record is a document: sizes and counts fit in 64 bits")
}

/// The record in a document; a document that is not one is a backend error (never
/// skipped: a record nobody can read is not a record that is gone).
fn record(d: Document) -> Result<ImageRecord, StoreError> {
    let name = d.get_str("name").unwrap_or_default().to_string();
    mongodb::bson::from_document(d).map_err(|e| backend(format!("the image record {name:?} is unreadable: {e}")))
}

/// This engine's name in its cursors.
const ENGINE: &str = "mongo";
/// The tie-break of a cursor past a record without a time: `["untimed", _id]`.
const UNTIMED: &str = "untimed";

/// The `_id` a cursor names: a plain value (an ObjectId, a number, a string), never a
/// document or a list a client could shape into something else.
fn cursor_id(tie: &serde_json::Value) -> Result<Bson, StoreError> {
    match Bson::try_from(tie.clone()) {
        Ok(id @ (Bson::ObjectId(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::String(_))) => Ok(id),
        _ => Err(StoreError::BadCursor),
    }
}

/// The records just past a cursor, in the listing's order (`time` then `_id`, both
/// descending; a record without a time sorts below every number): older, or as old with a
/// smaller `_id`, or without a time at all.
fn past(c: &Cursor) -> Result<Document, StoreError> {
    if c.engine != ENGINE {
        return Err(StoreError::BadCursor);
    }
    match &c.tie {
        serde_json::Value::Array(a) => match a.as_slice() {
            [serde_json::Value::String(tag), id] if tag == UNTIMED => {
                Ok(doc! {"time": null, "_id": {"$lt": cursor_id(id)?}})
            }
            _ => Err(StoreError::BadCursor),
        },
        tie => {
            let id = cursor_id(tie)?;
            Ok(doc! {"$or": [{"time": {"$lt": c.time}}, {"time": c.time, "_id": {"$lt": id}}, {"time": null}]})
        }
    }
}

fn user(d: &Document) -> User {
    User {
        mail: text(d, "mail"),
        jti: text(d, "jti"),
        issued_at: number(d, "issued_at") as i64,
        created: float(d, "created"),
    }
}

impl MongoStore {
    /// Connects to `uri` (database from its path, else `imgbed`), waiting at most `timeout`
    /// for a server, then checks it answers and ensures the indexes.
    pub async fn connect(uri: &str, timeout: Duration) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri).await.map_err(backend)?;
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        options.app_name = Some("imgbed".into());
        // A write is acknowledged once it is in the server's journal: it survives a crash
        // (or power loss) of the database server.
        options.write_concern = Some(mongodb::options::WriteConcern::builder().journal(true).build());
        let name = options.default_database.clone().unwrap_or_else(|| "imgbed".into());
        let client = Client::with_options(options).map_err(backend)?;
        let db = client.database(&name);
        let store = MongoStore {
            images: db.collection("images"),
            users: db.collection("users"),
            bans: db.collection("bans"),
            legacy: db.collection("legacy_tokens"),
            pending: db.collection("pending_deletes"),
            removals: db.collection("account_removals"),
            meta: db.collection("meta"),
            codes: db.collection("removal_codes"),
            owners: db.collection("owners"),
            limit: timeout,
            db,
            runtime: tokio::runtime::Handle::current(),
        };
        store.ping().await?;
        store.init().await?;
        Ok(store)
    }

    /// The database, for the blob store and shared state kept beside the records.
    pub fn database(&self) -> Database {
        self.db.clone()
    }

    /// Runs a query from a blocking thread (the policy's), bounded by the timeout.
    fn blocking<T>(&self, query: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.runtime.block_on(async {
            tokio::time::timeout(self.limit, query).await.map_err(|_| StoreError::Backend("timed out".into()))?
        })
    }

    async fn first_image(&self, filter: Document) -> Result<Option<ImageRecord>, StoreError> {
        self.images.find_one(filter).await.map_err(backend)?.map(record).transpose()
    }

    async fn names(&self, filter: Document) -> Result<Vec<String>, StoreError> {
        let mut cursor = self.images.find(filter).projection(doc! {"name": 1}).await.map_err(backend)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(backend)? {
            let d = cursor.deserialize_current().map_err(backend)?;
            out.push(text(&d, "name"));
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl MetaStore for MongoStore {
    async fn init(&self) -> Result<(), StoreError> {
        let unique = || IndexOptions::builder().unique(true).build();
        let indexes = [
            (&self.images, IndexModel::builder().keys(doc! {"name": 1}).options(unique()).build()),
            (&self.images, IndexModel::builder().keys(doc! {"owner": 1, "digest": 1}).options(unique()).build()),
            // The listing's order but for the `_id` tie-break (an `_id` in a compound index is
            // beyond the MongoDB-protocol test server; MongoDB sorts equal times itself).
            (&self.images, IndexModel::builder().keys(doc! {"owner": 1, "time": -1}).build()),
            (&self.users, IndexModel::builder().keys(doc! {"mail": 1}).options(unique()).build()),
            (&self.bans, IndexModel::builder().keys(doc! {"mail": 1}).options(unique()).build()),
            (&self.legacy, IndexModel::builder().keys(doc! {"token_sha256": 1}).options(unique()).build()),
            (&self.legacy, IndexModel::builder().keys(doc! {"mail": 1}).build()),
            (&self.pending, IndexModel::builder().keys(doc! {"name": 1}).options(unique()).build()),
            (&self.removals, IndexModel::builder().keys(doc! {"mail": 1}).options(unique()).build()),
            (&self.codes, IndexModel::builder().keys(doc! {"hash": 1}).options(unique()).build()),
            (&self.codes, IndexModel::builder().keys(doc! {"mail": 1}).build()),
        ];
        for (collection, index) in indexes {
            collection.create_index(index).await.map_err(backend)?;
        }
        codes::adopt_old(self).await?;
        owners::ensure(self).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! {"ping": 1}).await.map_err(backend)?;
        Ok(())
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let found = self.meta.find_one(doc! {"_id": key}).await.map_err(backend)?;
        Ok(found.and_then(|d| optional_text(&d, "value")))
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.meta.update_one(doc! {"_id": key}, doc! {"$set": {"value": value}}).upsert(true).await.map_err(backend)?;
        Ok(())
    }

    async fn remove_account(&self, mail: &str) -> Result<(bool, Vec<String>), StoreError> {
        let (s, mail) = (self.clone(), mail.to_string());
        to_the_end(async move { durable::remove_account(&s, &mail).await }).await
    }

    async fn finish_removals(&self) -> Result<usize, StoreError> {
        durable::finish_removals(self).await
    }
}

#[async_trait::async_trait]
impl ImageStore for MongoStore {
    async fn usage(&self, owner: &str) -> Result<(u64, u64), StoreError> {
        owners::usage(self, owner).await
    }

    async fn insert(&self, r: &ImageRecord) -> Result<(), StoreError> {
        match owners::insert_counted(self, record_doc(r), &r.owner, r.size).await {
            Ok(()) => Ok(()),
            Err(e) if is_duplicate(&e) => {
                // Which key clashed? The digest pair wins: the caller answers with the existing record.
                match self.find_by_digest(&r.owner, &r.digest).await? {
                    Some(existing) => Err(StoreError::Duplicate(existing.facts.name)),
                    None => Err(StoreError::NameTaken),
                }
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        self.first_image(doc! {"name": name}).await
    }

    async fn find_by_digest(&self, owner: &str, digest: &str) -> Result<Option<ImageRecord>, StoreError> {
        self.first_image(doc! {"owner": owner, "digest": digest}).await
    }

    async fn list(&self, owner: &str, start: &Start, limit: u64) -> Result<Page, StoreError> {
        let total = owners::usage(self, owner).await?.0;
        let (filter, skip) = match start {
            Start::Offset(n) => (doc! {"owner": owner}, *n),
            Start::After(c) => (doc! {"owner": owner, "$and": [past(c)?]}, 0),
        };
        let mut cursor = self
            .images
            .find(filter)
            .sort(doc! {"time": -1, "_id": -1})
            .skip(skip)
            .limit(rows_wanted(limit))
            .await
            .map_err(backend)?;
        let mut rows = Vec::new();
        while cursor.advance().await.map_err(backend)? {
            let d: Document = cursor.deserialize_current().map_err(backend)?;
            let id = d.get("_id").cloned().unwrap_or(Bson::Null).into_relaxed_extjson();
            // A record without a time (sorted last) is passed by its `_id` alone.
            let tie = match d.get("time") {
                None | Some(Bson::Null) => serde_json::json!([UNTIMED, id]),
                Some(_) => id,
            };
            rows.push((record(d)?, tie));
        }
        Ok(Page::of_rows(rows, limit, ENGINE, total))
    }

    async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        owners::delete_counted(self, doc! {"name": name}).await
    }

    async fn recount_usage(&self) -> Result<(), StoreError> {
        owners::recount(self).await
    }

    async fn all_names(&self) -> Result<Vec<String>, StoreError> {
        self.names(doc! {}).await
    }

    fn exists_blocking(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.blocking(self.get(name))?.is_some())
    }

    fn usage_blocking(&self, owner: &str) -> Result<(u64, u64), StoreError> {
        self.blocking(self.usage(owner))
    }

    async fn insert_for(&self, r: &ImageRecord, jti: Option<&str>) -> Result<(), StoreError> {
        durable::insert_for(self, r, jti).await
    }

    async fn has_images(&self) -> Result<bool, StoreError> {
        Ok(self.images.find_one(doc! {}).projection(doc! {"name": 1}).await.map_err(backend)?.is_some())
    }

    async fn set_delete_key(&self, name: &str, key_hash: &str) -> Result<bool, StoreError> {
        let set = doc! {"$set": {"delete_key": key_hash}};
        Ok(self.images.update_one(doc! {"name": name}, set).await.map_err(backend)?.matched_count > 0)
    }

    async fn delete_images(&self, names: &[String]) -> Result<Vec<String>, StoreError> {
        // Nor between a record and its owner's counter.
        let (s, names) = (self.clone(), names.to_vec());
        to_the_end(async move { durable::delete_images(&s, &names).await }).await
    }

    async fn pending_deletes(&self) -> Result<Vec<(String, f64)>, StoreError> {
        durable::pending_deletes(self).await
    }

    async fn clear_pending(&self, name: &str) -> Result<(), StoreError> {
        self.pending.delete_one(doc! {"name": name}).await.map_err(backend)?;
        Ok(())
    }

    async fn names_of_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        self.names(doc! {"owner": owner}).await
    }
}
