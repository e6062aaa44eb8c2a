//! Account-removal codes sent by mail (see the SQLite engine's `codes` for the rules).

use mongodb::bson::doc;

use super::{backend, MongoStore};
use crate::store::StoreError;

pub(super) async fn add(s: &MongoStore, mail: &str, hash: &str, expires: f64) -> Result<(), StoreError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    s.codes.delete_many(doc! {"mail": mail, "expires": {"$lte": now}}).await.map_err(backend)?;
    s.codes.insert_one(doc! {"hash": hash, "mail": mail, "expires": expires, "created": now}).await.map_err(backend)?;
    Ok(())
}
