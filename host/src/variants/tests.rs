//! The cache around a maker: single flight, the bound, deletes, the miss rate.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::blob::LocalBlobs;
use crate::store::{ImageFacts, ImageStore, SqliteStore};

/// A maker that answers a PNG signature plus `size` bytes, slowly, counting its calls.
struct Fake {
    calls: AtomicU64,
    size: usize,
}

#[async_trait::async_trait]
impl Maker for Fake {
    async fn make(&self, job: Job) -> Result<Made, ApiError> {
        self.calls.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(self.size, 0);
        // Always 640 wide: a narrower request gets a variant the host must refuse.
        let _ = job;
        Ok(Made { bytes, width: 640, height: 1 })
    }
}

fn record(name: &str) -> ImageRecord {
    let facts = ImageFacts {
        name: name.into(),
        size: 1,
        digest: format!("{:0>64}", hex::encode(name)),
        kind: "image".into(),
        format: "png".into(),
        mime: "image/png".into(),
        width: 4000,
        height: 3000,
        frames: 1,
        duration_ms: None,
        codec: None,
        original_name: name.into(),
        time: 1.0,
    };
    ImageRecord::new(facts, "o@x".into())
}

async fn setup(cache_mb: u64, size: usize, miss_rate: &str) -> (tempfile::TempDir, Arc<Variants>, Arc<Fake>) {
    let dir = tempfile::tempdir().unwrap();
    let originals = Arc::new(LocalBlobs::open(&dir.path().join("images")).unwrap());
    let cache = Arc::new(LocalBlobs::open(&dir.path().join("variants")).unwrap());
    let records = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    let temp = TempArea::open(&dir.path().join("tmp")).unwrap();
    for name in ["a.png", "b.png", "c.png"] {
        records.insert(&record(name)).await.unwrap();
        originals.put_bytes(name, b"original".to_vec()).await.unwrap();
    }
    let fake = Arc::new(Fake { calls: AtomicU64::new(0), size });
    let config = VariantsConfig { cache_mb, miss_rate: miss_rate.into(), ..VariantsConfig::default() };
    let v = Arc::new(Variants::new(cache, originals, records, temp, fake.clone(), config));
    (dir, v, fake)
}

const W640: Spec = Spec { width: 640, format: Format::Png };

#[tokio::test]
async fn concurrent_first_requests_make_one_variant_and_then_hit() {
    let (_dir, v, fake) = setup(16, 1000, "1000/60").await;
    let rec = record("a.png");
    let asks = (0..10).map(|i| {
        let (v, rec) = (v.clone(), rec.clone());
        tokio::spawn(async move { v.get(&rec, W640, Some(std::net::IpAddr::from([10, 0, 0, i]))).await })
    });
    let keys: Vec<String> =
        futures_util::future::join_all(asks).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert!(keys.iter().all(|k| k == &keys[0]));
    assert_eq!(fake.calls.load(Relaxed), 1, "ten first requests, one variant made");
    assert_eq!(v.counters.made.load(Relaxed), 1);
    v.get(&rec, W640, None).await.unwrap();
    assert_eq!(v.counters.hits.load(Relaxed), 1);
    assert_eq!(v.store.size(&keys[0]).await.unwrap(), Some(1000));
}

#[tokio::test]
async fn the_bound_drops_the_least_recently_used_and_deletes_take_variants() {
    // 1 MiB bound, 400 KiB variants: the third evicts the least recently used.
    let (_dir, v, _) = setup(1, 400 << 10, "1000/60").await;
    let (a, b, c) = (record("a.png"), record("b.png"), record("c.png"));
    let ka = v.get(&a, W640, None).await.unwrap();
    let kb = v.get(&b, W640, None).await.unwrap();
    v.get(&a, W640, None).await.unwrap();
    v.get(&c, W640, None).await.unwrap();
    assert!(v.store.size(&kb).await.unwrap().is_none(), "b was the least recently used");
    assert!(v.store.size(&ka).await.unwrap().is_some());
    assert_eq!(v.counters.evicted.load(Relaxed), 1);
    v.remove_for("a.png").await.unwrap();
    assert!(v.store.size(&ka).await.unwrap().is_none(), "a delete takes the variants");
    assert_eq!(v.usage().0, 1);
    // A fresh cache over the same store finds what is there.
    assert_eq!(v.load().await.unwrap(), 1);
}

#[tokio::test]
async fn misses_are_limited_per_client_and_bad_answers_refused() {
    let (_dir, v, _) = setup(16, 1000, "2/60").await;
    let ip = Some(std::net::IpAddr::from([10, 0, 0, 1]));
    v.get(&record("a.png"), W640, ip).await.unwrap();
    v.get(&record("b.png"), W640, ip).await.unwrap();
    let e = v.get(&record("c.png"), W640, ip).await.unwrap_err();
    assert_eq!(e.code, "rate_limited");
    v.get(&record("a.png"), W640, ip).await.expect("a hit is not a miss");
    v.get(&record("c.png"), W640, Some(std::net::IpAddr::from([10, 0, 0, 2]))).await.expect("another client");
    let wide = Spec { width: 100, format: Format::Png };
    let e = v.get(&record("c.png"), wide, None).await.unwrap_err();
    assert_eq!(e.code, "policy_invalid", "a variant wider than asked is refused");
    let jpeg = Spec { width: 640, format: Format::Jpeg };
    assert_eq!(v.get(&record("c.png"), jpeg, None).await.unwrap_err().code, "policy_invalid", "not a JPEG");
}
