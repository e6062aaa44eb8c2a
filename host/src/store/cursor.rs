//! Where a listing starts: a number of records to skip, or just past a record of an
//! earlier page (its sort key: the time and the engine's tie-break). A cursor costs the
//! same at any depth, and records added or deleted meanwhile never shift the pages after it.
//! Clients see it as an opaque string (base64url of the JSON `[engine, time's bits, tie]`:
//! the time's exact bits, since a decimal could come back one bit off and repeat a record;
//! the engine, so that a cursor of another engine is refused, not read as an empty page).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use super::{ImageRecord, Page};

/// The longest cursor accepted (a tie-break is a number or a short id).
const MAX_LEN: usize = 256;

/// The sort key of the last record of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The engine that made it (`"sqlite"`, `"mongo"`).
    pub engine: String,
    /// The record's time (seconds since the epoch).
    pub time: f64,
    /// The engine's tie-break for equal times (SQLite: the row id; MongoDB: `_id`).
    pub tie: Value,
}

impl Cursor {
    /// The string handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&(&self.engine, self.time.to_bits(), &self.tie)).unwrap_or_default())
    }

    /// A cursor from a client; `None` if it is not one this server hands out.
    pub fn parse(text: &str) -> Option<Cursor> {
        if text.len() > MAX_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
        let (engine, bits, tie): (String, u64, Value) = serde_json::from_slice(&bytes).ok()?;
        let time = f64::from_bits(bits);
        time.is_finite().then_some(Cursor { engine, time, tie })
    }
}

/// How many rows an engine reads for a page of `limit`: one more, which only says whether
/// a next page exists.
pub(crate) fn rows_wanted(limit: u64) -> i64 {
    limit.min(i64::MAX as u64 - 1) as i64 + 1
}

impl Page {
    /// A page of `limit` from up to [`rows_wanted`] rows, each with the `engine`'s
    /// tie-break: when the extra row is there, the next page starts just past the last row
    /// kept.
    pub(crate) fn of_rows(mut rows: Vec<(ImageRecord, Value)>, limit: u64, engine: &str, total: u64) -> Page {
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = match rows.last() {
            Some((r, tie)) if more => Some(Cursor { engine: engine.into(), time: r.time, tie: tie.clone() }),
            _ => None,
        };
        Page { items: rows.into_iter().map(|(r, _)| r).collect(), total, next }
    }
}

/// Where a page of a listing starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// After skipping this many records (`page`).
    Offset(u64),
    /// Just past this record (`after`).
    After(Cursor),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_comes_back_as_it_went() {
        for c in [
            Cursor { engine: "sqlite".into(), time: 1_700_000_000.123_456_7, tie: Value::from(42) },
            // A time whose shortest decimal does not parse back to the same bits everywhere.
            Cursor { engine: "sqlite".into(), time: 1_796_067_873.072_048_7, tie: Value::from(7) },
            Cursor { engine: "mongo".into(), time: 0.0, tie: Value::from("65a1b2c3d4e5f60718293a4b") },
        ] {
            assert_eq!(Cursor::parse(&c.encode()), Some(c));
        }
    }

    #[test]
    fn what_is_not_a_cursor_is_refused() {
        for text in ["", "page2", "!!!!", &URL_SAFE_NO_PAD.encode(b"[\"x\", 1]"), &"A".repeat(MAX_LEN + 4)] {
            assert_eq!(Cursor::parse(text), None, "{text}");
        }
        // Not a finite time; a time that is not its bits.
        let infinite = format!("[\"sqlite\", {}, 1]", f64::INFINITY.to_bits());
        assert_eq!(Cursor::parse(&URL_SAFE_NO_PAD.encode(infinite)), None);
        assert_eq!(Cursor::parse(&URL_SAFE_NO_PAD.encode(b"[\"sqlite\", 1.5, 1]")), None);
        assert_eq!(Cursor::parse(&URL_SAFE_NO_PAD.encode(b"[4607182418800017408, 1]")), None, "no engine");
    }
}
