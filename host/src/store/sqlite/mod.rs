//! SQLite engine: one writer connection in WAL mode with full sync (a committed
//! record survives a power loss), used from blocking threads, upload records committed
//! in groups (one sync for many), and a pool of read connections for point reads.

mod accounts;
mod codes;
mod durable;
mod group;
mod list;
mod readers;
mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{ImageFacts, ImageRecord, ImageStore, MetaStore, Page, Start, StoreError};
use schema::{migrate, SCHEMA};

/// Metadata in a SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    readers: Arc<readers::Readers>,
    /// Upload records waiting to be committed together.
    inserts: Arc<group::Queue>,
}

const COLUMNS: &str =
    "name, owner, size, digest, kind, format, mime, width, height, frames, duration_ms, original_name, time, codec, delete_key, blob_key, thumb";

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn record(row: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    let facts = ImageFacts {
        name: row.get(0)?,
        size: row.get::<_, i64>(2)? as u64,
        digest: row.get(3)?,
        kind: row.get(4)?,
        format: row.get(5)?,
        mime: row.get(6)?,
        width: row.get(7)?,
        height: row.get(8)?,
        frames: row.get(9)?,
        duration_ms: row.get::<_, Option<i64>>(10)?.map(|d| d as u64),
        original_name: row.get(11)?,
        time: row.get(12)?,
        codec: row.get(13)?,
    };
    Ok(ImageRecord { facts, owner: row.get(1)?, delete_key: row.get(14)?, blob_key: row.get(15)?, thumb: row.get(16)? })
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and ensures the schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        durable::create_private(path).map_err(backend)?;
        let conn = Connection::open(path).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
        // FULL: the WAL is synced at every commit, so an answered upload survives a power loss.
        conn.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        migrate(&conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(readers::Readers::new(path)),
            inserts: Arc::default(),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&guard)
        })
        .await
        .map_err(backend)?
    }
}

fn get_by_name(conn: &Connection, name: &str) -> Result<Option<ImageRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM images WHERE name = ?1")).map_err(backend)?;
    stmt.query_row([name], record).optional().map_err(backend)
}

fn get_by_digest(conn: &Connection, owner: &str, digest: &str) -> Result<Option<ImageRecord>, StoreError> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM images WHERE owner = ?1 AND digest = ?2"), [owner, digest], record)
        .optional()
        .map_err(backend)
}

/// Inserts a record; a clash is `Duplicate` (same owner and bytes) or `NameTaken`.
fn insert_row(c: &Connection, r: &ImageRecord) -> Result<(), StoreError> {
    let res = c.execute(
        &format!(
            "INSERT INTO images ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ),
        params![
            r.name,
            r.owner,
            r.size as i64,
            r.digest,
            r.kind,
            r.format,
            r.mime,
            r.width,
            r.height,
            r.frames,
            r.duration_ms.map(|d| d as i64),
            r.original_name,
            r.time,
            r.codec,
            r.delete_key,
            r.blob_key,
            r.thumb
        ],
    );
    match res {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            // Which key clashed? The digest pair wins: the caller answers with the existing record.
            match get_by_digest(c, &r.owner, &r.digest)? {
                Some(existing) => Err(StoreError::Duplicate(existing.facts.name)),
                None => Err(StoreError::NameTaken),
            }
        }
        Err(e) => Err(backend(e)),
    }
}

#[async_trait::async_trait]
impl MetaStore for SqliteStore {
    async fn init(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute_batch(SCHEMA).map_err(backend)?;
            migrate(c)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // One page of the table, never a count of it (a million records stay cheap to ask).
        self.with(|c| {
            c.prepare_cached("SELECT 1 FROM images LIMIT 1").and_then(|mut s| s.exists([])).map(drop).map_err(backend)
        })
        .await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.with(move |c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| r.get(0)).optional().map_err(backend)
        })
        .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.with(move |c| {
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", [&key, &value]).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn remove_account(&self, mail: &str) -> Result<(bool, Vec<String>), StoreError> {
        let mail = mail.to_string();
        self.with(move |c| durable::remove_account(c, &mail)).await
    }
}

#[async_trait::async_trait]
impl ImageStore for SqliteStore {
    async fn insert(&self, r: &ImageRecord) -> Result<(), StoreError> {
        let r = r.clone();
        self.with(move |c| insert_row(c, &r)).await
    }

    async fn insert_for(&self, r: &ImageRecord, jti: Option<&str>) -> Result<(), StoreError> {
        self.inserts.insert_for(&self.conn, r.clone(), jti.map(str::to_string)).await
    }

    async fn has_images(&self) -> Result<bool, StoreError> {
        self.with(|c| c.query_row("SELECT EXISTS(SELECT 1 FROM images)", [], |r| r.get(0)).map_err(backend)).await
    }

    async fn set_delete_key(&self, name: &str, key_hash: &str) -> Result<bool, StoreError> {
        let (name, key_hash) = (name.to_string(), key_hash.to_string());
        self.with(move |c| {
            c.execute("UPDATE images SET delete_key = ?2 WHERE name = ?1", [&name, &key_hash])
                .map(|n| n > 0)
                .map_err(backend)
        })
        .await
    }

    async fn delete_images(&self, names: &[String]) -> Result<Vec<String>, StoreError> {
        let names = names.to_vec();
        self.with(move |c| durable::delete_images(c, &names)).await
    }

    async fn pending_deletes(&self) -> Result<Vec<(String, f64)>, StoreError> {
        self.with(durable::pending_deletes).await
    }

    async fn clear_pending(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.with(move |c| durable::clear_pending(c, &name)).await
    }

    async fn get(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        // A point read by the unique name, on a read connection (see `readers`).
        let name = name.to_string();
        self.readers.read(move |c| get_by_name(c, &name)).await
    }

    async fn find_by_digest(&self, owner: &str, digest: &str) -> Result<Option<ImageRecord>, StoreError> {
        let (owner, digest) = (owner.to_string(), digest.to_string());
        self.with(move |c| get_by_digest(c, &owner, &digest)).await
    }

    async fn usage(&self, owner: &str) -> Result<(u64, u64), StoreError> {
        let owner = owner.to_string();
        self.readers.clone().read_blocking(move |c| owner_usage(c, &owner)).await
    }

    async fn list(&self, owner: &str, start: &Start, limit: u64) -> Result<Page, StoreError> {
        let (owner, from) = (owner.to_string(), list::Seek::of(start)?);
        self.readers.clone().read_blocking(move |c| list::page(c, &owner, from, limit)).await
    }

    async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.with(move |c| Ok(c.execute("DELETE FROM images WHERE name = ?1", [&name]).map_err(backend)? > 0)).await
    }

    async fn all_names(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT name FROM images").map_err(backend)?;
            let names = stmt.query_map([], |r| r.get(0)).map_err(backend)?.collect::<Result<Vec<String>, _>>();
            names.map_err(backend)
        })
        .await
    }

    fn usage_blocking(&self, owner: &str) -> Result<(u64, u64), StoreError> {
        self.readers.read_here(|c| owner_usage(c, owner))
    }

    fn exists_blocking(&self, name: &str) -> Result<bool, StoreError> {
        self.readers.read_here(|c| Ok(get_by_name(c, name)?.is_some()))
    }

    async fn names_of_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let owner = owner.to_string();
        self.with(move |c| {
            let mut stmt = c.prepare("SELECT name FROM images WHERE owner = ?1").map_err(backend)?;
            let names = stmt.query_map([&owner], |r| r.get(0)).map_err(backend)?.collect::<Result<Vec<String>, _>>();
            names.map_err(backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests;

/// (images, bytes) of an owner, from the per-owner counters the triggers keep.
fn owner_usage(c: &rusqlite::Connection, owner: &str) -> Result<(u64, u64), StoreError> {
    c.query_row("SELECT COALESCE(MAX(images), 0), COALESCE(MAX(bytes), 0) FROM owners WHERE owner = ?1", [owner], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })
    .map_err(backend)
}
