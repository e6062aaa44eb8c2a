//! Image variants (another width or format of a stored image), made by a [`Maker`] —
//! the sandboxed policy — and cached beside the originals in a blob store of their own.
//!
//! - A variant's name holds a hash of the image's name, the digest of the bytes it was
//!   made from, its width and format ([`spec::key`]): a name reused after a delete never
//!   meets an old variant, and reconciliation can tell whose variant a file is.
//! - The cache is bounded (`variants.cache_mb`): the least recently used go first
//!   ([`index::Index`]). Several hosts sharing a store each bound what they know.
//! - Concurrent first requests for the same variant make it once (single flight); the
//!   requests that make variants (misses) are limited per client (`variants.miss_rate`).
//! - Deleting an image deletes its variants; reconciliation removes variants whose
//!   image is gone; backups leave them out (they are made again on demand).

mod index;
pub mod maker;
mod sandbox;
pub mod spec;

pub use maker::{Job, Made, Maker, Unsupported};
pub use spec::{Asked, Format, Spec};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::blob::{BlobStore, TempArea};
use crate::config::VariantsConfig;
use crate::error::{ApiError, Code};
use crate::ipfilter::{Limiter, Verdict};
use crate::store::{ImageRecord, MetaStore};
use index::Index;

/// The maker for the active policy: its variant export, in the sandbox (a policy without
/// one answers 501).
pub fn maker_for(policy: &Arc<crate::policy::PolicyRuntime>) -> Arc<dyn Maker> {
    Arc::new(sandbox::Sandboxed(policy.clone()))
}

/// Counters for the metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Variants served from the cache.
    pub hits: AtomicU64,
    /// Requests that found no variant (and made it, or waited for the one making it).
    pub misses: AtomicU64,
    /// Variants made and stored.
    pub made: AtomicU64,
    /// Variants dropped to stay within the bound.
    pub evicted: AtomicU64,
    /// Variants the maker refused (or failed to make).
    pub refused: AtomicU64,
    /// Misses refused by `variants.miss_rate`.
    pub limited: AtomicU64,
}

type Flight = Arc<OnceCell<Result<(), ApiError>>>;

/// The variant cache and its maker.
pub struct Variants {
    /// Where variants are stored.
    pub store: Arc<dyn BlobStore>,
    originals: Arc<dyn BlobStore>,
    records: Arc<dyn MetaStore>,
    temp: TempArea,
    maker: Arc<dyn Maker>,
    index: Mutex<Index>,
    flights: Mutex<HashMap<String, Flight>>,
    limiter: Limiter,
    pub config: VariantsConfig,
    pub counters: Counters,
}

impl Variants {
    pub fn new(
        store: Arc<dyn BlobStore>,
        originals: Arc<dyn BlobStore>,
        records: Arc<dyn MetaStore>,
        temp: TempArea,
        maker: Arc<dyn Maker>,
        config: VariantsConfig,
    ) -> Self {
        let rule = config.miss_rate.parse().unwrap_or(crate::config::Rule { count: 60, window_s: 60 });
        Variants {
            store,
            originals,
            records,
            temp,
            maker,
            index: Mutex::new(Index::new(config.cache_mb.saturating_mul(1 << 20))),
            flights: Mutex::default(),
            // Over the rate: no new variants for a whole window (a ban of 0 would let
            // the next miss start a fresh window).
            limiter: Limiter::new(rule, Vec::new(), rule.window_s, 100_000),
            config,
            counters: Counters::default(),
        }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// (variants, bytes) this host knows of.
    pub fn usage(&self) -> (usize, u64) {
        self.index().usage()
    }

    /// Reads what the store holds into the index (start-up), dropping the oldest beyond
    /// the bound. Returns how many variants it found.
    pub async fn load(&self) -> std::io::Result<usize> {
        let mut found = Vec::new();
        for (key, age) in self.store.list().await? {
            if spec::stem_of(&key).is_some() {
                if let Some(size) = self.store.size(&key).await? {
                    found.push((key, size, age));
                }
            }
        }
        let n = found.len();
        let evicted = self.index().load(found);
        self.evict(evicted).await;
        Ok(n)
    }

    /// The name in [`Variants::store`] of the variant `spec` of `record`, made now if it
    /// is not stored yet. `client` is who asked (None: the server itself, not limited).
    pub async fn get(
        self: &Arc<Self>,
        record: &ImageRecord,
        spec: Spec,
        client: Option<IpAddr>,
    ) -> Result<String, ApiError> {
        if let Some(key) = self.cached(record, spec).await? {
            return Ok(key);
        }
        // The host's own bound, before any work: a policy that ignores `max_cost` must
        // not hold a heavy slot until its deadline.
        let cost = u64::from(record.width).saturating_mul(u64::from(record.height));
        if cost > self.config.max_cost {
            return Err(ApiError::of(Code::VariantTooCostly)
                .with_detail(format!("{cost} pixels over variants.max_cost {}", self.config.max_cost)));
        }
        let key = spec::key(&record.name, &record.digest, spec);
        self.counters.misses.fetch_add(1, Relaxed);
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            match flights.get(&key) {
                Some(f) => f.clone(),
                None => {
                    if let Some(ip) = client {
                        if let Verdict::Limited { retry_after } = self.limiter.check("variants", ip) {
                            self.counters.limited.fetch_add(1, Relaxed);
                            return Err(ApiError::rate_limited(retry_after));
                        }
                    }
                    let f: Flight = Arc::default();
                    flights.insert(key.clone(), f.clone());
                    f
                }
            }
        };
        let who = client.map_or_else(|| format!("owner:{}", record.owner), |ip| ip.to_string());
        let made = flight
            .get_or_init(|| {
                // On a task of its own: a client that goes away does not waste the work.
                let (this, record, key) = (self.clone(), record.clone(), key.clone());
                async move {
                    tokio::spawn(async move { this.make(&record, spec, &key, who).await })
                        .await
                        .unwrap_or_else(|e| Err(ApiError::internal().with_detail(format!("variant task: {e}"))))
                }
            })
            .await
            .clone();
        {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(&key);
            }
        }
        made.map(|()| key)
    }

    /// The name of the variant `spec` of `record` if it is stored (a hit), else None.
    pub async fn cached(&self, record: &ImageRecord, spec: Spec) -> Result<Option<String>, ApiError> {
        let key = spec::key(&record.name, &record.digest, spec);
        let known = self.index().touch(&key);
        if let Some(len) = self.store.size(&key).await? {
            if !known {
                // Made by another host sharing the store, or before this one started.
                let evicted = self.index().insert(&key, len);
                self.evict(evicted).await;
            }
            self.counters.hits.fetch_add(1, Relaxed);
            return Ok(Some(key));
        }
        if known {
            self.index().remove(&key);
        }
        Ok(None)
    }

    /// Makes, checks and stores one variant.
    async fn make(&self, record: &ImageRecord, spec: Spec, key: &str, client: String) -> Result<(), ApiError> {
        let (source, size) = self.open_source(record.blob()).await?;
        let job = Job {
            source,
            size,
            record: record.clone(),
            spec,
            quality: self.config.quality,
            max_cost: self.config.max_cost,
            client,
        };
        let made = self.maker.make(job).await.inspect_err(|_| {
            self.counters.refused.fetch_add(1, Relaxed);
        })?;
        maker::check(&made, spec).map_err(|why| {
            self.counters.refused.fetch_add(1, Relaxed);
            tracing::warn!(name = %record.name, %why, "the policy's variant was refused");
            ApiError::of(Code::PolicyInvalid).with_detail(why)
        })?;
        let len = made.bytes.len() as u64;
        match self.store.put_bytes(key, made.bytes).await {
            Ok(()) => {}
            // Another host made it meanwhile: the same bytes.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        // Deleted (or replaced) while it was being made: take the variant back.
        let current = self.records.get(&record.name).await.map_err(ApiError::from)?;
        if current.is_none_or(|r| r.digest != record.digest) {
            self.store.remove(key).await?;
            return Err(ApiError::of(Code::NotFound));
        }
        self.counters.made.fetch_add(1, Relaxed);
        let evicted = self.index().insert(key, len);
        self.evict(evicted).await;
        Ok(())
    }

    /// The stored original, open for reading: in place in a local store, else copied
    /// to a temp file first (the file stays readable once its name is gone); found as its
    /// record locates it (S3: by the object's key).
    async fn open_source(&self, blob: crate::blob::Located<'_>) -> Result<(std::fs::File, u64), ApiError> {
        if let Some(dir) = self.originals.local_dir() {
            let path = dir.join(blob.name);
            let file = tokio::task::spawn_blocking(move || {
                let f = std::fs::File::open(path)?;
                let len = f.metadata()?.len();
                Ok::<_, std::io::Error>((f, len))
            })
            .await
            .map_err(|e| ApiError::internal().with_detail(e.to_string()))?;
            return file.map_err(ApiError::from_read);
        }
        use futures_util::StreamExt;
        use std::io::Write;
        let len = self.originals.size_located(blob).await?.ok_or_else(|| ApiError::of(Code::NotFound))?;
        let temp = self.temp.temp();
        let mut out = std::fs::File::create_new(temp.path())?;
        let mut stream = self.originals.read_located(blob, 0, len).await.map_err(ApiError::from_read)?;
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk?)?;
        }
        let file = std::fs::File::open(temp.path())?;
        Ok((file, len))
    }

    /// Makes the eager variants (`variants.eager`) of a stored record; failures are logged.
    pub async fn make_eager(self: &Arc<Self>, record: &ImageRecord) {
        if record.kind == "video" {
            return;
        }
        for e in &self.config.eager {
            let Some(format) = Format::parse(&e.format) else { continue };
            if let Err(err) = self.get(record, Spec { width: e.width, format }, None).await {
                tracing::info!(name = %record.name, code = %err.code, "eager variant not made");
            }
        }
    }

    /// Removes the variants of the stored name `name` that this host knows of.
    pub async fn remove_for(&self, name: &str) -> std::io::Result<()> {
        let prefix = format!("{}.", spec::stem(name));
        let keys = self.index().with_prefix(&prefix);
        for key in keys {
            self.store.remove(&key).await?;
            self.index().remove(&key);
        }
        Ok(())
    }

    async fn evict(&self, keys: Vec<String>) {
        for key in keys {
            match self.store.remove(&key).await {
                Ok(()) => {
                    self.counters.evicted.fetch_add(1, Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, key, "evicting a variant"),
            }
        }
    }
}

#[cfg(test)]
mod tests;
