//! The SQLite schema and the steps that bring a database made by an older version
//! up to it.

use rusqlite::Connection;

use super::backend;
use crate::store::StoreError;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    owner         TEXT NOT NULL,
    size          INTEGER NOT NULL,
    digest        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    format        TEXT NOT NULL,
    mime          TEXT NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    frames        INTEGER NOT NULL,
    duration_ms   INTEGER,
    original_name TEXT NOT NULL,
    time          REAL NOT NULL,
    codec         TEXT,
    delete_key    TEXT,
    blob_key      TEXT,
    thumb         INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS images_owner_digest ON images(owner, digest);
CREATE INDEX IF NOT EXISTS images_owner_time ON images(owner, time DESC, id DESC);
CREATE TABLE IF NOT EXISTS users (
    mail          TEXT PRIMARY KEY,
    jti           TEXT NOT NULL,
    issued_at     INTEGER NOT NULL,
    created       REAL NOT NULL,
    check_hash    TEXT,
    check_expires REAL
);
CREATE TABLE IF NOT EXISTS bans (
    mail TEXT PRIMARY KEY,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS legacy_tokens (
    token_sha256 TEXT PRIMARY KEY,
    mail         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS legacy_tokens_mail ON legacy_tokens(mail);
CREATE TABLE IF NOT EXISTS pending_deletes (
    name TEXT PRIMARY KEY,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS removal_codes (
    hash    TEXT PRIMARY KEY,
    mail    TEXT NOT NULL,
    expires REAL NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS removal_codes_mail ON removal_codes(mail, created);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// The per-owner counters and the triggers that keep them, filled from the records
/// already there (run in one transaction). Records are never written with `INSERT OR
/// REPLACE`, which would bypass the delete trigger.
const OWNERS: &str = "
CREATE TABLE IF NOT EXISTS owners (
    owner  TEXT PRIMARY KEY,
    images INTEGER NOT NULL,
    bytes  INTEGER NOT NULL
);
DROP TRIGGER IF EXISTS owners_on_insert;
DROP TRIGGER IF EXISTS owners_on_delete;
DROP TRIGGER IF EXISTS owners_on_update;
DELETE FROM owners;
INSERT INTO owners (owner, images, bytes) SELECT owner, COUNT(*), SUM(size) FROM images GROUP BY owner;
CREATE TRIGGER owners_on_insert AFTER INSERT ON images BEGIN
    INSERT INTO owners (owner, images, bytes) VALUES (NEW.owner, 1, NEW.size)
    ON CONFLICT(owner) DO UPDATE SET images = images + 1, bytes = bytes + NEW.size;
END;
CREATE TRIGGER owners_on_delete AFTER DELETE ON images BEGIN
    UPDATE owners SET images = images - 1, bytes = bytes - OLD.size WHERE owner = OLD.owner;
END;
CREATE TRIGGER owners_on_update AFTER UPDATE OF owner, size ON images BEGIN
    UPDATE owners SET images = images - 1, bytes = bytes - OLD.size WHERE owner = OLD.owner;
    INSERT INTO owners (owner, images, bytes) VALUES (NEW.owner, 1, NEW.size)
    ON CONFLICT(owner) DO UPDATE SET images = images + 1, bytes = bytes + NEW.size;
END;
";

/// Brings a database made by an older version up to [`SCHEMA`]: columns added later.
pub(super) fn migrate(c: &Connection) -> Result<(), StoreError> {
    // Columns added later: the video codec, the hash of the deletion key, the blob's key
    // in the blob store (NULL in older rows: their files are found by name), whether a
    // thumbnail was stored (NULL in older rows: the thumbnail store is asked).
    for (column, kind) in [("codec", "TEXT"), ("delete_key", "TEXT"), ("blob_key", "TEXT"), ("thumb", "INTEGER")] {
        let has = c
            .prepare("SELECT 1 FROM pragma_table_info('images') WHERE name = ?1")
            .and_then(|mut s| s.exists([column]))
            .map_err(backend)?;
        if !has {
            c.execute_batch(&format!("ALTER TABLE images ADD COLUMN {column} {kind}")).map_err(backend)?;
        }
    }
    // Per-owner counts and bytes, kept by triggers in the same transaction as every insert
    // and delete of a record (listing totals, quotas and the admin list read one row).
    // Made, or remade when a trigger is missing, and filled in one transaction (rolled
    // back if anything fails); checked again inside it, as another process may have
    // just done it.
    let counted = |c: &Connection| {
        c.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE (type = 'table' AND name = 'owners')
                 OR (type = 'trigger' AND name IN ('owners_on_insert', 'owners_on_delete', 'owners_on_update'))",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(backend)
    };
    if counted(c)? != 4 {
        let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
        if counted(&tx)? != 4 {
            tx.execute_batch(OWNERS).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
    }
    // Removal codes mailed by an older version (one per account, in `users`) keep working.
    c.execute_batch(
        "INSERT OR IGNORE INTO removal_codes (hash, mail, expires, created)
             SELECT check_hash, mail, check_expires, 0 FROM users
             WHERE check_hash IS NOT NULL AND check_expires IS NOT NULL;
         UPDATE users SET check_hash = NULL, check_expires = NULL WHERE check_hash IS NOT NULL;",
    )
    .map_err(backend)?;
    Ok(())
}
