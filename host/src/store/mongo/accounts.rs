//! Accounts on MongoDB: token claims, removal codes, bans, legacy tokens.

use mongodb::bson::doc;

use super::{backend, codes, float, text, user, MongoStore};
use crate::mongo::is_duplicate;
use crate::store::{AccountStore, StoreError, User, UserUsage};

#[async_trait::async_trait]
impl AccountStore for MongoStore {
    async fn create_user(&self, u: &User) -> Result<(), StoreError> {
        let d = doc! {"mail": &u.mail, "jti": &u.jti, "issued_at": u.issued_at, "created": u.created};
        match self.users.insert_one(d).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate(&e) => Err(StoreError::UserExists),
            Err(e) => Err(backend(e)),
        }
    }

    async fn get_user(&self, mail: &str) -> Result<Option<User>, StoreError> {
        Ok(self.users.find_one(doc! {"mail": mail}).await.map_err(backend)?.map(|d| user(&d)))
    }

    async fn delete_user(&self, mail: &str) -> Result<bool, StoreError> {
        self.legacy.delete_many(doc! {"mail": mail}).await.map_err(backend)?;
        Ok(self.users.delete_one(doc! {"mail": mail}).await.map_err(backend)?.deleted_count > 0)
    }

    async fn set_check(&self, mail: &str, check_hash: &str, expires: f64) -> Result<(), StoreError> {
        codes::add(self, mail, check_hash, expires).await
    }

    async fn recent_checks(&self, mail: &str, since: f64) -> Result<u64, StoreError> {
        let filter = doc! {"mail": mail, "created": {"$gt": since}};
        self.codes.count_documents(filter).await.map_err(backend)
    }

    async fn check_valid(&self, mail: &str, check_hash: &str, now: f64) -> Result<bool, StoreError> {
        let filter = doc! {"hash": check_hash, "mail": mail, "expires": {"$gt": now}};
        Ok(self.codes.count_documents(filter).await.map_err(backend)? > 0)
    }

    async fn take_check(&self, mail: &str, check_hash: &str, now: f64) -> Result<bool, StoreError> {
        // One delete: of two concurrent confirmations only one wins.
        let filter = doc! {"hash": check_hash, "mail": mail, "expires": {"$gt": now}};
        Ok(self.codes.delete_one(filter).await.map_err(backend)?.deleted_count == 1)
    }

    async fn ban(&self, mail: &str, time: f64) -> Result<(), StoreError> {
        self.bans
            .update_one(doc! {"mail": mail}, doc! {"$set": {"mail": mail, "time": time}})
            .upsert(true)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn is_banned(&self, mail: &str) -> Result<bool, StoreError> {
        Ok(self.bans.count_documents(doc! {"mail": mail}).await.map_err(backend)? > 0)
    }

    async fn users(&self) -> Result<Vec<UserUsage>, StoreError> {
        let mut cursor = self.users.find(doc! {}).sort(doc! {"created": 1, "mail": 1}).await.map_err(backend)?;
        let mut accounts = Vec::new();
        while cursor.advance().await.map_err(backend)? {
            accounts.push(user(&cursor.deserialize_current().map_err(backend)?));
        }
        let mut out = Vec::with_capacity(accounts.len());
        for u in accounts {
            let (images, bytes) = super::owners::usage(self, &u.mail).await?;
            out.push(UserUsage { mail: u.mail, created: u.created, images, bytes });
        }
        Ok(out)
    }

    async fn all_users(&self) -> Result<Vec<User>, StoreError> {
        let mut cursor = self.users.find(doc! {}).sort(doc! {"created": 1, "mail": 1}).await.map_err(backend)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(backend)? {
            out.push(user(&cursor.deserialize_current().map_err(backend)?));
        }
        Ok(out)
    }

    async fn all_bans(&self) -> Result<Vec<(String, f64)>, StoreError> {
        let mut cursor = self.bans.find(doc! {}).sort(doc! {"mail": 1}).await.map_err(backend)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(backend)? {
            let d = cursor.deserialize_current().map_err(backend)?;
            out.push((text(&d, "mail"), float(&d, "time")));
        }
        Ok(out)
    }

    async fn add_legacy_token(&self, mail: &str, token_sha256: &str) -> Result<(), StoreError> {
        self.legacy
            .update_one(
                doc! {"token_sha256": token_sha256},
                doc! {"$set": {"token_sha256": token_sha256, "mail": mail}},
            )
            .upsert(true)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn legacy_owner(&self, token_sha256: &str) -> Result<Option<String>, StoreError> {
        let found = self.legacy.find_one(doc! {"token_sha256": token_sha256}).await.map_err(backend)?;
        Ok(found.map(|d| text(&d, "mail")))
    }

    async fn all_legacy_tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut cursor = self.legacy.find(doc! {}).sort(doc! {"mail": 1}).await.map_err(backend)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(backend)? {
            let d = cursor.deserialize_current().map_err(backend)?;
            out.push((text(&d, "mail"), text(&d, "token_sha256")));
        }
        Ok(out)
    }
}
