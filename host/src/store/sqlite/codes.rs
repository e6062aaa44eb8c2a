//! Account-removal codes sent by mail. Each mail carries its own code, and a new request
//! never replaces a pending one (anyone could otherwise cancel someone's removal link by
//! asking for another mail). A code works once, until it expires; codes of a removed
//! account go with it.

use rusqlite::{params, Connection};

use super::backend;
use crate::store::StoreError;

pub(super) fn add(c: &Connection, mail: &str, hash: &str, expires: f64) -> Result<(), StoreError> {
    let now = crate::clock::now();
    // Expired codes of this mail are of no use to anyone: they make room.
    c.execute("DELETE FROM removal_codes WHERE mail = ?1 AND expires <= ?2", params![mail, now]).map_err(backend)?;
    c.execute(
        "INSERT INTO removal_codes (hash, mail, expires, created) VALUES (?1, ?2, ?3, ?4)",
        params![hash, mail, expires, now],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn recent(c: &Connection, mail: &str, since: f64) -> Result<u64, StoreError> {
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM removal_codes WHERE mail = ?1 AND created > ?2", params![mail, since], |r| {
            r.get(0)
        })
        .map_err(backend)?;
    Ok(n as u64)
}

pub(super) fn valid(c: &Connection, mail: &str, hash: &str, now: f64) -> Result<bool, StoreError> {
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM removal_codes WHERE hash = ?1 AND mail = ?2 AND expires > ?3",
            params![hash, mail, now],
            |r| r.get(0),
        )
        .map_err(backend)?;
    Ok(n > 0)
}

/// Uses a code up: one statement, so of two concurrent confirmations only one wins.
pub(super) fn take(c: &Connection, mail: &str, hash: &str, now: f64) -> Result<bool, StoreError> {
    let n = c
        .execute("DELETE FROM removal_codes WHERE hash = ?1 AND mail = ?2 AND expires > ?3", params![hash, mail, now])
        .map_err(backend)?;
    Ok(n == 1)
}
