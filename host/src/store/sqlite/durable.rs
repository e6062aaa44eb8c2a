//! The SQLite side of "nothing lost": private database files, inserts that fail
//! once the owner's account is gone, and deletes that leave a pending-delete
//! entry in the same transaction, so the files are removed even after a crash.

use std::path::Path;

use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use super::{backend, insert_row};
use crate::clock::now;
use crate::store::{ImageRecord, StoreError};

/// Creates the database file readable by its owner only (0600) if it does not exist
/// yet. SQLite gives its WAL and shared-memory files the database file's mode.
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A write transaction that takes the write lock at once (`BEGIN IMMEDIATE`): another
/// process writing (e.g. `imgbed fsck`) makes it wait, never fail half-way.
pub(super) fn write_tx(c: &Connection) -> Result<Transaction<'_>, StoreError> {
    Transaction::new_unchecked(c, TransactionBehavior::Immediate).map_err(backend)
}

/// Inside a write transaction: inserts `r` only while its owner's account (with token
/// id `jti`) exists, so a removal either sees the record or the upload sees no account.
/// A failure leaves nothing of this insert and the transaction usable (one writing statement).
pub(super) fn check_and_insert(tx: &Connection, r: &ImageRecord, jti: Option<&str>) -> Result<(), StoreError> {
    if let Some(jti) = jti {
        let alive: bool = tx
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM users WHERE mail = ?1 AND jti = ?2)")
            .and_then(|mut s| s.query_row(params![r.owner, jti], |r| r.get(0)))
            .map_err(backend)?;
        if !alive {
            return Err(StoreError::OwnerGone);
        }
    }
    insert_row(tx, r)
}

/// Deletes the records and notes their names as pending deletes, in one transaction.
/// Returns the names that had a record.
pub(super) fn delete_images(c: &Connection, names: &[String]) -> Result<Vec<String>, StoreError> {
    let tx = write_tx(c)?;
    let deleted = delete_in(&tx, names)?;
    tx.commit().map_err(backend)?;
    Ok(deleted)
}

fn delete_in(tx: &Connection, names: &[String]) -> Result<Vec<String>, StoreError> {
    let t = now();
    let mut deleted = Vec::new();
    for name in names {
        if tx.execute("DELETE FROM images WHERE name = ?1", [name]).map_err(backend)? > 0 {
            tx.execute("INSERT OR REPLACE INTO pending_deletes (name, time) VALUES (?1, ?2)", params![name, t])
                .map_err(backend)?;
            deleted.push(name.clone());
        }
    }
    Ok(deleted)
}

pub(super) fn pending_deletes(c: &Connection) -> Result<Vec<(String, f64)>, StoreError> {
    let mut stmt = c.prepare("SELECT name, time FROM pending_deletes ORDER BY time").map_err(backend)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend)?;
    rows.collect::<Result<Vec<(String, f64)>, _>>().map_err(backend)
}

pub(super) fn clear_pending(c: &Connection, name: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM pending_deletes WHERE name = ?1", [name]).map_err(backend)?;
    Ok(())
}

/// Removes an account, its legacy tokens and the records of all its images, noting
/// their names as pending deletes — in one transaction, so it is never half done.
pub(super) fn remove_account(c: &Connection, mail: &str) -> Result<(bool, Vec<String>), StoreError> {
    let tx = write_tx(c)?;
    let names: Vec<String> = {
        let mut stmt = tx.prepare("SELECT name FROM images WHERE owner = ?1").map_err(backend)?;
        let rows = stmt.query_map([mail], |r| r.get(0)).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    let deleted = delete_in(&tx, &names)?;
    tx.execute("DELETE FROM legacy_tokens WHERE mail = ?1", [mail]).map_err(backend)?;
    tx.execute("DELETE FROM removal_codes WHERE mail = ?1", [mail]).map_err(backend)?;
    let existed = tx.execute("DELETE FROM users WHERE mail = ?1", [mail]).map_err(backend)? > 0;
    tx.commit().map_err(backend)?;
    Ok((existed, deleted))
}
