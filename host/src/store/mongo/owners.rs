//! Per-owner counts and bytes on MongoDB (`owners`, `_id` = owner), kept beside the records:
//! raised after a record is inserted and lowered after one is deleted, so quotas (every
//! upload), listing totals and the admin list read one document instead of scanning the
//! owner's records. Without transactions a crash between the two writes leaves a counter a
//! record off; the counters are recounted from the records when first made (a database of an
//! earlier version) and by `imgbed fsck --repair` ([`recount`]).

use std::collections::HashMap;

use mongodb::bson::{doc, Document};

use super::{backend, text, MongoStore};
use crate::mongo::number;
use crate::store::StoreError;

/// The mark in `meta` that the counters were made.
const COUNTED: &str = "owners_counted";

/// Adds to an owner's counters. A failure is logged, not returned: the record it follows
/// is written (or gone) either way, and a counter off by one is what `recount` mends.
pub(super) async fn bump(s: &MongoStore, owner: &str, images: i64, bytes: i64) {
    let change = doc! {"$inc": {"images": images, "bytes": bytes}};
    if let Err(e) = s.owners.update_one(doc! {"_id": owner}, change).upsert(true).await {
        tracing::error!(error = %e, owner, "updating the owner's counters (imgbed fsck --repair recounts them)");
    }
}

/// (images, bytes) of an owner.
pub(super) async fn usage(s: &MongoStore, owner: &str) -> Result<(u64, u64), StoreError> {
    let found = s.owners.find_one(doc! {"_id": owner}).await.map_err(backend)?;
    Ok(found.map_or((0, 0), |d| (number(&d, "images"), number(&d, "bytes"))))
}

/// Deletes the record of `name` (if there is one) and lowers its owner's counters; whether
/// this call deleted it.
pub(super) async fn delete_counted(s: &MongoStore, name: &str) -> Result<bool, StoreError> {
    let Some(d) =
        s.images.find_one(doc! {"name": name}).projection(doc! {"owner": 1, "size": 1}).await.map_err(backend)?
    else {
        return Ok(false);
    };
    let id = d.get("_id").cloned().unwrap_or(mongodb::bson::Bson::Null);
    let gone = s.images.delete_one(doc! {"_id": id}).await.map_err(backend)?.deleted_count > 0;
    if gone {
        bump(s, &text(&d, "owner"), -1, -(number(&d, "size") as i64)).await;
    }
    Ok(gone)
}

/// Sets every owner's counters from the records (one pass over them).
pub(super) async fn recount(s: &MongoStore) -> Result<(), StoreError> {
    let mut counts: HashMap<String, (i64, i64)> = HashMap::new();
    let mut cursor = s.images.find(doc! {}).projection(doc! {"owner": 1, "size": 1}).await.map_err(backend)?;
    while cursor.advance().await.map_err(backend)? {
        let d: Document = cursor.deserialize_current().map_err(backend)?;
        let c = counts.entry(text(&d, "owner")).or_default();
        *c = (c.0 + 1, c.1 + number(&d, "size") as i64);
    }
    for (owner, (images, bytes)) in &counts {
        let set = doc! {"$set": {"images": images, "bytes": bytes}};
        s.owners.update_one(doc! {"_id": owner}, set).upsert(true).await.map_err(backend)?;
    }
    // Owners with no record left.
    let mut cursor = s.owners.find(doc! {}).projection(doc! {"_id": 1}).await.map_err(backend)?;
    let mut stale = Vec::new();
    while cursor.advance().await.map_err(backend)? {
        let d: Document = cursor.deserialize_current().map_err(backend)?;
        if let Ok(owner) = d.get_str("_id") {
            if !counts.contains_key(owner) {
                stale.push(owner.to_string());
            }
        }
    }
    for owner in stale {
        s.owners.delete_one(doc! {"_id": owner}).await.map_err(backend)?;
    }
    Ok(())
}

/// Makes the counters once, for a database that has none yet.
pub(super) async fn ensure(s: &MongoStore) -> Result<(), StoreError> {
    if s.meta.find_one(doc! {"_id": COUNTED}).await.map_err(backend)?.is_none() {
        recount(s).await?;
        let mark = doc! {"$set": {"value": "1"}};
        s.meta.update_one(doc! {"_id": COUNTED}, mark).upsert(true).await.map_err(backend)?;
    }
    Ok(())
}
