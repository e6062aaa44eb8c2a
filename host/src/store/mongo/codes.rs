//! Account-removal codes sent by mail (see the SQLite engine's `codes` for the rules).

use mongodb::bson::doc;

use super::{backend, MongoStore};
use crate::store::StoreError;

pub(super) async fn add(s: &MongoStore, mail: &str, hash: &str, expires: f64) -> Result<(), StoreError> {
    let now = crate::clock::now();
    s.codes.delete_many(doc! {"mail": mail, "expires": {"$lte": now}}).await.map_err(backend)?;
    s.codes.insert_one(doc! {"hash": hash, "mail": mail, "expires": expires, "created": now}).await.map_err(backend)?;
    Ok(())
}

/// Removal codes mailed by an older version (one per account, on the `users` document)
/// keep working: moved into `removal_codes`.
pub(super) async fn adopt_old(s: &MongoStore) -> Result<(), StoreError> {
    let mut cursor = s.users.find(doc! {}).await.map_err(backend)?;
    let mut old = Vec::new();
    while cursor.advance().await.map_err(backend)? {
        let d = cursor.deserialize_current().map_err(backend)?;
        if let (Ok(hash), Some(expires)) = (d.get_str("check_hash"), d.get("check_expires").and_then(|v| v.as_f64())) {
            old.push((d.get_str("mail").unwrap_or_default().to_string(), hash.to_string(), expires));
        }
    }
    for (mail, hash, expires) in old {
        let code = doc! {"hash": &hash, "mail": &mail, "expires": expires, "created": 0.0};
        s.codes.update_one(doc! {"hash": &hash}, doc! {"$setOnInsert": code}).upsert(true).await.map_err(backend)?;
        s.users
            .update_one(doc! {"mail": &mail}, doc! {"$unset": {"check_hash": "", "check_expires": ""}})
            .await
            .map_err(backend)?;
    }
    Ok(())
}
