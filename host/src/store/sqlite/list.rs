//! One page of an owner's records, newest first (`time DESC, id DESC`), by offset or
//! just past a cursor; the total from the owner's counter, in the same snapshot.

use rusqlite::{params, Connection};

use super::{backend, record, COLUMNS};
use crate::store::{Cursor, Page, StoreError};

/// From this many skipped rows on, a page is found through the covering index first
/// (cheaper for deep pages, a little dearer for the first ones).
pub(super) const DEEP_PAGE: u64 = 1000;

/// This engine's name in its cursors.
const ENGINE: &str = "sqlite";

/// Where a page starts, in this engine's terms: an offset, or a (time, row id) key.
pub(super) enum Seek {
    Offset(u64),
    After(f64, i64),
}

impl Seek {
    pub(super) fn of(start: &crate::store::Start) -> Result<Seek, StoreError> {
        Ok(match start {
            crate::store::Start::Offset(n) => Seek::Offset(*n),
            crate::store::Start::After(c) if c.engine == ENGINE => {
                Seek::After(c.time, c.tie.as_i64().ok_or(StoreError::BadCursor)?)
            }
            crate::store::Start::After(_) => return Err(StoreError::BadCursor),
        })
    }
}

fn int(n: u64) -> i64 {
    n.min(i64::MAX as u64 - 1) as i64
}

pub(super) fn page(c: &Connection, owner: &str, from: Seek, limit: u64) -> Result<Page, StoreError> {
    // The total and the page from one snapshot.
    let tx = c.unchecked_transaction().map_err(backend)?;
    let c = &*tx;
    let total: i64 = c
        .query_row("SELECT COALESCE((SELECT images FROM owners WHERE owner = ?1), 0)", [owner], |r| r.get(0))
        .map_err(backend)?;
    // One row more than asked: whether there is a next page.
    let want = int(limit).saturating_add(1);
    let row = |r: &rusqlite::Row<'_>| Ok((record(r)?, r.get::<_, i64>(17)?));
    let mut rows = match from {
        Seek::Offset(offset) if offset < DEEP_PAGE => {
            let sql = format!(
                "SELECT {COLUMNS}, id FROM images WHERE owner = ?1 ORDER BY time DESC, id DESC LIMIT ?2 OFFSET ?3"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt.query_map(params![owner, want, int(offset)], row).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>()
        }
        Seek::Offset(offset) => {
            // The rows skipped are counted in the index alone; only the page's rows are
            // read (a deep page costs a walk of the index, not of the table).
            let sql = format!(
                "SELECT {COLUMNS}, id FROM images WHERE id IN (SELECT id FROM images WHERE owner = ?1
                     ORDER BY time DESC, id DESC LIMIT ?2 OFFSET ?3)
                 ORDER BY time DESC, id DESC"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt.query_map(params![owner, want, int(offset)], row).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>()
        }
        Seek::After(time, id) => {
            // A seek in the (owner, time, id) index: the same cost at any depth.
            let sql = format!(
                "SELECT {COLUMNS}, id FROM images WHERE owner = ?1 AND (time, id) < (?3, ?4)
                 ORDER BY time DESC, id DESC LIMIT ?2"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt.query_map(params![owner, want, time, id], row).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>()
        }
    }
    .map_err(backend)?;
    tx.finish().map_err(backend)?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = match rows.last() {
        Some((r, id)) if more => Some(Cursor { engine: ENGINE.into(), time: r.time, tie: (*id).into() }),
        _ => None,
    };
    Ok(Page { items: rows.into_iter().map(|(r, _)| r).collect(), total: total.max(0) as u64, next })
}
