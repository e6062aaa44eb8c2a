//! One page of an owner's records, newest first (`time DESC, id DESC`), by offset or
//! just past a cursor; the total from the owner's counter, in the same snapshot.

use rusqlite::types::Value as Arg;
use rusqlite::Connection;

use super::{backend, record, COLUMNS};
use crate::store::{rows_wanted, Page, StoreError};

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
    let mut args = vec![Arg::Text(owner.to_string()), Arg::Integer(rows_wanted(limit))];
    let sql = match from {
        Seek::Offset(offset) if offset < DEEP_PAGE => {
            args.push(Arg::Integer(int(offset)));
            format!("SELECT {COLUMNS}, id FROM images WHERE owner = ?1 ORDER BY time DESC, id DESC LIMIT ?2 OFFSET ?3")
        }
        Seek::Offset(offset) => {
            // The rows skipped are counted in the index alone; only the page's rows are
            // read (a deep page costs a walk of the index, not of the table).
            args.push(Arg::Integer(int(offset)));
            format!(
                "SELECT {COLUMNS}, id FROM images WHERE id IN (SELECT id FROM images WHERE owner = ?1
                     ORDER BY time DESC, id DESC LIMIT ?2 OFFSET ?3)
                 ORDER BY time DESC, id DESC"
            )
        }
        Seek::After(time, id) => {
            // A seek in the (owner, time, id) index: the same cost at any depth.
            args.extend([Arg::Real(time), Arg::Integer(id)]);
            format!(
                "SELECT {COLUMNS}, id FROM images WHERE owner = ?1 AND (time, id) < (?3, ?4)
                 ORDER BY time DESC, id DESC LIMIT ?2"
            )
        }
    };
    let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), |r| Ok((record(r)?, r.get::<_, i64>(17)?.into())))
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    drop(stmt);
    tx.finish().map_err(backend)?;
    Ok(Page::of_rows(rows, limit, ENGINE, total.max(0) as u64))
}
