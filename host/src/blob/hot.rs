//! Hot files in memory: a bounded cache of small stored files, so a popular image is
//! answered without touching the disk. Entries are keyed by the blob's name and
//! tagged with its digest; a hit counts only when the record just read names the
//! same digest, so a name reused after a delete (here or on another host) is never
//! answered with the old bytes. Deletes evict as well, to give the memory back.

use std::sync::Arc;

use bytes::Bytes;
use moka::sync::Cache;

/// The cache. With a capacity of 0 it holds nothing.
#[derive(Clone)]
pub struct HotFiles {
    /// Name → (digest tag, bytes); a hit clones two reference counts, no allocation.
    cache: Option<Cache<String, (Arc<str>, Bytes)>>,
    /// Largest file kept.
    max_file: u64,
}

impl HotFiles {
    /// A cache of at most `capacity` bytes of files of at most `max_file` bytes each.
    pub fn new(capacity: u64, max_file: u64) -> Self {
        let cache = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .weigher(|name: &String, (tag, bytes): &(Arc<str>, Bytes)| {
                    u32::try_from(name.len() + tag.len() + bytes.len() + 64).unwrap_or(u32::MAX)
                })
                .build()
        });
        HotFiles { cache, max_file }
    }

    /// Largest file kept.
    pub fn max_file(&self) -> u64 {
        self.max_file
    }

    /// Whether a file of `len` bytes would be kept.
    pub fn keeps(&self, len: u64) -> bool {
        self.cache.is_some() && len <= self.max_file
    }

    /// The bytes of `name` if they are cached for the digest `tag`.
    pub fn get(&self, name: &str, tag: &str) -> Option<Bytes> {
        let (cached_tag, bytes) = self.cache.as_ref()?.get(name)?;
        (&*cached_tag == tag).then_some(bytes)
    }

    /// Keeps the bytes of `name` (digest `tag`).
    pub fn put(&self, name: &str, tag: &str, bytes: Bytes) {
        if let Some(cache) = &self.cache {
            if bytes.len() as u64 <= self.max_file {
                cache.insert(name.to_string(), (Arc::from(tag), bytes));
            }
        }
    }

    /// Forgets `name` (it was deleted).
    pub fn evict(&self, name: &str) {
        if let Some(cache) = &self.cache {
            cache.invalidate(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_needs_the_same_digest_and_deletes_evict() {
        let hot = HotFiles::new(1 << 20, 1024);
        hot.put("a.png", "d1", Bytes::from_static(b"one"));
        assert_eq!(hot.get("a.png", "d1").as_deref(), Some(&b"one"[..]));
        assert_eq!(hot.get("a.png", "d2"), None, "a reused name with other bytes is a miss");
        hot.evict("a.png");
        assert_eq!(hot.get("a.png", "d1"), None);
        hot.put("big.png", "d", Bytes::from(vec![0; 2048]));
        assert_eq!(hot.get("big.png", "d"), None, "files over the per-file limit are not kept");
        assert!(!HotFiles::new(0, 1024).keeps(1), "capacity 0 keeps nothing");
    }
}
