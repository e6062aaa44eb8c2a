//! A [`MetaStore`] whose every operation ends within a bound: a database that hangs
//! (a stopped server, a lost network) gives `Backend("timed out")` — a 503 — instead
//! of a request that never answers. Whole-store scans (reconciliation, tools) get a
//! longer bound than the queries a request makes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{AccountStore, ImageRecord, ImageStore, MetaStore, Page, Start, StoreError, User, UserUsage};

/// How many times the request bound a whole-store scan may take.
const SCAN_FACTOR: u32 = 100;

/// Bounds every operation of `inner` by `limit` (scans by `limit` × 100).
pub struct TimedStore {
    inner: Arc<dyn MetaStore>,
    limit: Duration,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn MetaStore>, limit: Duration) -> Self {
        TimedStore { inner, limit }
    }

    async fn bounded<T>(
        &self,
        limit: Duration,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(limit, op).await {
            Ok(done) => done,
            Err(_) => Err(StoreError::Backend(format!("no answer within {} ms", limit.as_millis()))),
        }
    }

    async fn run<T>(&self, op: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.bounded(self.limit, op).await
    }

    async fn scan<T>(&self, op: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.bounded(self.limit * SCAN_FACTOR, op).await
    }
}

#[async_trait::async_trait]
impl MetaStore for TimedStore {
    async fn init(&self) -> Result<(), StoreError> {
        self.run(self.inner.init()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(self.inner.ping()).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.run(self.inner.get_meta(key)).await
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.run(self.inner.set_meta(key, value)).await
    }

    async fn remove_account(&self, mail: &str) -> Result<(bool, Vec<String>), StoreError> {
        self.scan(self.inner.remove_account(mail)).await
    }

    async fn finish_removals(&self) -> Result<usize, StoreError> {
        self.scan(self.inner.finish_removals()).await
    }
}

#[async_trait::async_trait]
impl ImageStore for TimedStore {
    async fn insert(&self, record: &ImageRecord) -> Result<(), StoreError> {
        self.run(self.inner.insert(record)).await
    }

    async fn insert_for(&self, record: &ImageRecord, jti: Option<&str>) -> Result<(), StoreError> {
        self.run(self.inner.insert_for(record, jti)).await
    }

    async fn get(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        self.run(self.inner.get(name)).await
    }

    async fn find_by_digest(&self, owner: &str, digest: &str) -> Result<Option<ImageRecord>, StoreError> {
        self.run(self.inner.find_by_digest(owner, digest)).await
    }

    async fn usage(&self, owner: &str) -> Result<(u64, u64), StoreError> {
        self.run(self.inner.usage(owner)).await
    }

    async fn list(&self, owner: &str, start: &Start, limit: u64) -> Result<Page, StoreError> {
        self.run(self.inner.list(owner, start, limit)).await
    }

    async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        self.run(self.inner.delete(name)).await
    }

    async fn has_images(&self) -> Result<bool, StoreError> {
        self.run(self.inner.has_images()).await
    }
    async fn set_delete_key(&self, name: &str, key_hash: &str) -> Result<bool, StoreError> {
        self.run(self.inner.set_delete_key(name, key_hash)).await
    }

    async fn recount_usage(&self) -> Result<(), StoreError> {
        self.scan(self.inner.recount_usage()).await
    }

    async fn delete_images(&self, names: &[String]) -> Result<Vec<String>, StoreError> {
        self.run(self.inner.delete_images(names)).await
    }

    async fn pending_deletes(&self) -> Result<Vec<(String, f64)>, StoreError> {
        self.scan(self.inner.pending_deletes()).await
    }

    async fn clear_pending(&self, name: &str) -> Result<(), StoreError> {
        self.run(self.inner.clear_pending(name)).await
    }

    async fn all_names(&self) -> Result<Vec<String>, StoreError> {
        self.scan(self.inner.all_names()).await
    }

    fn exists_blocking(&self, name: &str) -> Result<bool, StoreError> {
        // Bounded by the engine itself: it runs on the policy's thread, not in a task.
        self.inner.exists_blocking(name)
    }

    fn usage_blocking(&self, owner: &str) -> Result<(u64, u64), StoreError> {
        self.inner.usage_blocking(owner)
    }

    async fn names_of_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        self.scan(self.inner.names_of_owner(owner)).await
    }
}

#[async_trait::async_trait]
impl AccountStore for TimedStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.run(self.inner.create_user(user)).await
    }

    async fn get_user(&self, mail: &str) -> Result<Option<User>, StoreError> {
        self.run(self.inner.get_user(mail)).await
    }

    async fn delete_user(&self, mail: &str) -> Result<bool, StoreError> {
        self.run(self.inner.delete_user(mail)).await
    }

    async fn set_check(&self, mail: &str, check_hash: &str, expires: f64) -> Result<(), StoreError> {
        self.run(self.inner.set_check(mail, check_hash, expires)).await
    }

    async fn recent_checks(&self, mail: &str, since: f64) -> Result<u64, StoreError> {
        self.run(self.inner.recent_checks(mail, since)).await
    }

    async fn check_valid(&self, mail: &str, check_hash: &str, now: f64) -> Result<bool, StoreError> {
        self.run(self.inner.check_valid(mail, check_hash, now)).await
    }

    async fn take_check(&self, mail: &str, check_hash: &str, now: f64) -> Result<bool, StoreError> {
        self.run(self.inner.take_check(mail, check_hash, now)).await
    }

    async fn ban(&self, mail: &str, time: f64) -> Result<(), StoreError> {
        self.run(self.inner.ban(mail, time)).await
    }

    async fn is_banned(&self, mail: &str) -> Result<bool, StoreError> {
        self.run(self.inner.is_banned(mail)).await
    }

    async fn users(&self) -> Result<Vec<UserUsage>, StoreError> {
        self.scan(self.inner.users()).await
    }

    async fn all_users(&self) -> Result<Vec<User>, StoreError> {
        self.scan(self.inner.all_users()).await
    }

    async fn all_bans(&self) -> Result<Vec<(String, f64)>, StoreError> {
        self.scan(self.inner.all_bans()).await
    }

    async fn add_legacy_token(&self, mail: &str, token_sha256: &str) -> Result<(), StoreError> {
        self.run(self.inner.add_legacy_token(mail, token_sha256)).await
    }

    async fn legacy_owner(&self, token_sha256: &str) -> Result<Option<String>, StoreError> {
        self.run(self.inner.legacy_owner(token_sha256)).await
    }

    async fn all_legacy_tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.scan(self.inner.all_legacy_tokens()).await
    }
}
