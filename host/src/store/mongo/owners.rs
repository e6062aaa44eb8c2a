//! Per-owner counts and bytes on MongoDB (`owners`, `_id` = owner), kept beside the records:
//! raised with each record inserted and lowered with each one deleted, so quotas (every
//! upload), listing totals and the admin list read one document instead of scanning the
//! owner's records. Once a record is written (or deleted), its counter's update runs in a
//! task of its own that a request going away (or timing out) does not cancel; each update
//! also raises the counter's version `v`. Without transactions a crash (or a request dropped
//! while the database applies its write) leaves a counter a record off: [`recount`] sets them
//! from the records at every start (in the background, after ready), at the first start of a
//! database of an earlier version (before serving), and in `imgbed fsck --repair`.

use std::collections::HashMap;

use mongodb::bson::{doc, Bson, Document};
use mongodb::error::Error;

use super::{backend, text, MongoStore};
use crate::mongo::signed;
use crate::store::StoreError;

/// The mark in `meta` that the counters were made.
const COUNTED: &str = "owners_counted";

/// Adds to an owner's counters (and raises their version), in a task of its own: a caller
/// dropped meanwhile does not cancel it. A failure is logged, not returned: the record it
/// follows is written (or gone) either way, and a counter off by one is what `recount` mends.
async fn bump(s: &MongoStore, owner: &str, images: i64, bytes: i64) {
    let (s, owner) = (s.clone(), owner.to_string());
    let task = tokio::spawn(async move {
        let change = doc! {"$inc": {"images": images, "bytes": bytes, "v": 1_i64}};
        if let Err(e) = s.owners.update_one(doc! {"_id": &owner}, change).upsert(true).await {
            tracing::error!(error = %e, owner, "updating the owner's counters (the next start recounts them)");
        }
    });
    let _ = task.await;
}

/// Inserts a record, then raises its owner's counters.
pub(super) async fn insert_counted(s: &MongoStore, record: Document, owner: &str, size: u64) -> Result<(), Error> {
    s.images.insert_one(record).await?;
    bump(s, owner, 1, size as i64).await;
    Ok(())
}

/// Deletes the record `filter` finds (if any), then lowers its owner's counters; whether
/// this call deleted it.
pub(super) async fn delete_counted(s: &MongoStore, filter: Document) -> Result<bool, StoreError> {
    let projection = doc! {"owner": 1, "size": 1};
    let Some(d) = s.images.find_one(filter).projection(projection).await.map_err(backend)? else {
        return Ok(false);
    };
    let id = d.get("_id").cloned().unwrap_or(Bson::Null);
    let gone = s.images.delete_one(doc! {"_id": id}).await.map_err(backend)?.deleted_count > 0;
    if gone {
        bump(s, &text(&d, "owner"), -1, -signed(&d, "size")).await;
    }
    Ok(gone)
}

/// (images, bytes) of an owner.
pub(super) async fn usage(s: &MongoStore, owner: &str) -> Result<(u64, u64), StoreError> {
    let Some(d) = s.owners.find_one(doc! {"_id": owner}).await.map_err(backend)? else { return Ok((0, 0)) };
    let (images, bytes) = (signed(&d, "images"), signed(&d, "bytes"));
    if images < 0 || bytes < 0 {
        tracing::debug!(owner, images, bytes, "an owner's counters are below zero (the next start recounts them)");
    }
    Ok((images.max(0) as u64, bytes.max(0) as u64))
}

/// Sets the counters that differ from the records: the counters are read first, then the
/// records counted, and a counter is only replaced if its version is still the one read
/// (any update meanwhile, even one undone by another, raised it: another host's writes
/// win; the next recount sees them). A record written by a request still in flight (its
/// counter not raised yet) can leave that owner one off until then. An owner whose counter
/// cannot be written is logged and skipped.
pub(super) async fn recount(s: &MongoStore) -> Result<(), StoreError> {
    let mut before: HashMap<String, (i64, i64, Bson)> = HashMap::new();
    let mut cursor = s.owners.find(doc! {}).await.map_err(backend)?;
    while cursor.advance().await.map_err(backend)? {
        let d: Document = cursor.deserialize_current().map_err(backend)?;
        if let Ok(owner) = d.get_str("_id") {
            let version = d.get("v").cloned().unwrap_or(Bson::Null);
            before.insert(owner.to_string(), (signed(&d, "images"), signed(&d, "bytes"), version));
        }
    }
    let mut counted: HashMap<String, (i64, i64)> = HashMap::new();
    let mut cursor = s.images.find(doc! {}).projection(doc! {"owner": 1, "size": 1}).await.map_err(backend)?;
    while cursor.advance().await.map_err(backend)? {
        let d: Document = cursor.deserialize_current().map_err(backend)?;
        let c = counted.entry(text(&d, "owner")).or_default();
        *c = (c.0 + 1, c.1 + signed(&d, "size"));
    }
    // Owners whose counter is left with no record are set to zero (never deleted: a
    // counter another host just raised would go with it).
    for owner in before.keys() {
        counted.entry(owner.clone()).or_default();
    }
    for (owner, (images, bytes)) in counted {
        let same = matches!(before.get(&owner), Some((i, b, _)) if (*i, *b) == (images, bytes));
        if same {
            continue;
        }
        // A scan cut short (a cursor a server ended early) must not be written as the truth:
        // the owner's records are counted again on their own, and only a match is written.
        match s.images.count_documents(doc! {"owner": &owner}).await {
            Ok(n) if n as i64 == images => {}
            Ok(n) => {
                tracing::warn!(
                    owner,
                    scanned = images,
                    counted = n,
                    "recount: the scan and a count disagree; left as it is"
                );
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, owner, "recounting an owner's counters (the next start tries again)");
                continue;
            }
        }
        let written = match before.get(&owner) {
            Some((_, _, version)) => {
                let unchanged = doc! {"_id": &owner, "v": version.clone()};
                let set = doc! {"$set": {"images": images, "bytes": bytes}, "$inc": {"v": 1_i64}};
                s.owners.update_one(unchanged, set).await.map(|_| ())
            }
            // Made meanwhile by another host's insert: theirs stands.
            None => match s.owners.insert_one(doc! {"_id": &owner, "images": images, "bytes": bytes, "v": 1_i64}).await
            {
                Err(e) if crate::mongo::is_duplicate(&e) => Ok(()),
                other => other.map(|_| ()),
            },
        };
        if let Err(e) = written {
            tracing::error!(error = %e, owner, "recounting an owner's counters (the next start tries again)");
        }
    }
    Ok(())
}

/// Makes the counters before serving, for a database that has none yet.
pub(super) async fn ensure(s: &MongoStore) -> Result<(), StoreError> {
    if s.meta.find_one(doc! {"_id": COUNTED}).await.map_err(backend)?.is_none() {
        recount(s).await?;
        let mark = doc! {"$set": {"value": "1"}};
        s.meta.update_one(doc! {"_id": COUNTED}, mark).upsert(true).await.map_err(backend)?;
    }
    Ok(())
}
