//! The MongoDB side of "nothing lost", without transactions: every multi-step
//! change writes down what it is about to do first (a pending delete, an account
//! removal), so a crash half-way leaves a note that the next start finishes, and
//! every step can be repeated.

use mongodb::bson::doc;

use super::{backend, float, text, MongoStore};
use crate::clock::now;
use crate::store::AccountStore;
use crate::store::ImageStore;
use crate::store::{ImageRecord, StoreError};

/// Inserts, then checks the owner's account still exists with the same token id. A
/// removal deletes the account before it lists the owner's records, so either it
/// sees this record or this check sees no account (and the record is taken back).
pub(super) async fn insert_for(s: &MongoStore, r: &ImageRecord, jti: Option<&str>) -> Result<(), StoreError> {
    s.insert(r).await?;
    let Some(jti) = jti else { return Ok(()) };
    let alive = s.users.count_documents(doc! {"mail": &r.owner, "jti": jti}).await.map_err(backend)? > 0;
    if !alive {
        super::owners::delete_counted(s, doc! {"name": &r.name, "digest": &r.digest, "owner": &r.owner}).await?;
        return Err(StoreError::OwnerGone);
    }
    Ok(())
}

/// For each name: the pending delete first, then the record. A note this call did not
/// create (another request's, for the same name) is never removed here.
pub(super) async fn delete_images(s: &MongoStore, names: &[String]) -> Result<Vec<String>, StoreError> {
    let t = now();
    let mut deleted = Vec::new();
    for name in names {
        let noted = s
            .pending
            .update_one(doc! {"name": name}, doc! {"$setOnInsert": {"name": name, "time": t}})
            .upsert(true)
            .await
            .map_err(backend)?;
        if super::owners::delete_counted(s, doc! {"name": name}).await? {
            deleted.push(name.clone());
        } else if noted.upserted_id.is_some() {
            // No record (another request deleted it): our note is not needed. Its files
            // are that request's to remove — or another host's upload may be storing a
            // new file under the name right now.
            s.pending.delete_one(doc! {"name": name, "time": t}).await.map_err(backend)?;
        }
    }
    Ok(deleted)
}

pub(super) async fn pending_deletes(s: &MongoStore) -> Result<Vec<(String, f64)>, StoreError> {
    let mut cursor = s.pending.find(doc! {}).sort(doc! {"time": 1}).await.map_err(backend)?;
    let mut out = Vec::new();
    while cursor.advance().await.map_err(backend)? {
        let d = cursor.deserialize_current().map_err(backend)?;
        out.push((text(&d, "name"), float(&d, "time")));
    }
    Ok(out)
}

/// Notes the removal, deletes the account (its tokens stop working at once), then its
/// records (as pending deletes), then the note.
pub(super) async fn remove_account(s: &MongoStore, mail: &str) -> Result<(bool, Vec<String>), StoreError> {
    let at = now();
    s.removals
        .update_one(doc! {"mail": mail}, doc! {"$setOnInsert": {"mail": mail, "at": at}})
        .upsert(true)
        .await
        .map_err(backend)?;
    let existed = s.get_user(mail).await?.is_some();
    let names = finish(s, mail, f64::INFINITY).await?;
    Ok((existed, names))
}

/// The steps after the note, repeatable: legacy tokens, the account, the records of
/// images received before `before`, the note.
async fn finish(s: &MongoStore, mail: &str, before: f64) -> Result<Vec<String>, StoreError> {
    s.legacy.delete_many(doc! {"mail": mail}).await.map_err(backend)?;
    if before.is_infinite() {
        s.codes.delete_many(doc! {"mail": mail}).await.map_err(backend)?;
        s.users.delete_one(doc! {"mail": mail}).await.map_err(backend)?;
    }
    let mut names = Vec::new();
    let mut cursor =
        s.images.find(doc! {"owner": mail}).projection(doc! {"name": 1, "time": 1}).await.map_err(backend)?;
    while cursor.advance().await.map_err(backend)? {
        let d = cursor.deserialize_current().map_err(backend)?;
        if float(&d, "time") < before {
            names.push(text(&d, "name"));
        }
    }
    let deleted = delete_images(s, &names).await?;
    s.removals.delete_one(doc! {"mail": mail}).await.map_err(backend)?;
    Ok(deleted)
}

/// Finishes removals a crash interrupted. If the mail registered again since, only the
/// images received before the new account was created are the old account's.
pub(super) async fn finish_removals(s: &MongoStore) -> Result<usize, StoreError> {
    let mut cursor = s.removals.find(doc! {}).await.map_err(backend)?;
    let mut begun = Vec::new();
    while cursor.advance().await.map_err(backend)? {
        let d = cursor.deserialize_current().map_err(backend)?;
        begun.push((text(&d, "mail"), float(&d, "at")));
    }
    for (mail, at) in &begun {
        let before = match s.get_user(mail).await? {
            Some(u) if u.created > *at => u.created,
            _ => f64::INFINITY,
        };
        finish(s, mail, before).await?;
    }
    Ok(begun.len())
}
