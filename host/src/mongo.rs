//! Helpers for everything that talks to MongoDB (records, file chunks, the shared
//! policy): driver errors and numbers whatever BSON type a server stored them as.

use mongodb::bson::{Bson, Document};

/// Whether a driver error is a unique-index violation.
pub fn is_duplicate(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => m.write_errors.as_ref().is_some_and(|w| w.iter().any(|w| w.code == 11000)),
        _ => e.to_string().contains("E11000") || e.to_string().contains("duplicate key"),
    }
}

/// A signed whole number from a field whatever integer or double type the server stored it
/// as (0 if it is none of them).
pub fn signed(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

/// A whole number from a field whatever integer or double type the server stored it as.
pub fn number(d: &Document, key: &str) -> u64 {
    match d.get(key) {
        Some(Bson::Int32(n)) => (*n).max(0) as u64,
        Some(Bson::Int64(n)) => (*n).max(0) as u64,
        Some(Bson::Double(n)) => n.max(0.0) as u64,
        _ => 0,
    }
}
