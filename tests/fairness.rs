//! The policy's capacity for heavy work (reading uploads) is separate from the capacity
//! for cheap decisions, runs at a lower priority, and goes round-robin between clients:
//! a client flooding uploads slows neither another client's reads nor its uploads much.
//! (A test binary of its own: nothing else runs beside these measurements.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fixtures, Server};
use serde_json::json;

const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");

/// Uploads files whose policy call spins, as the client `xff` (behind a trusted proxy).
fn flood(s: &Server, xff: &'static str, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::new();
    (0..4u64)
        .map(|i| {
            let (client, url, stop) = (client.clone(), s.at("/api/image_upload"), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let part = reqwest::multipart::Part::bytes(fixtures::png(8, 8, 1000 * i + n)).file_name("slow.png");
                    let form = reqwest::multipart::Form::new().part("file", part);
                    let _ = client.post(&url).header("x-forwarded-for", xff).multipart(form).send().await;
                    n += 1;
                }
            })
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_heavy_uploads_slows_neither_reads_nor_other_uploaders() {
    let s = Server::start(json!({
        "policy": {"path": TEST_POLICY, "deadline_ms": 30000, "settings": {"test.slow_ms": "2000"}},
        "ip_filter": {"enabled": true, "rule": "100000/60", "trusted_proxies": ["127.0.0.1"]},
    }));
    let list = |xff: &'static str| {
        let req = s.http.get(s.at("/api/image_list")).header("x-forwarded-for", xff);
        async move {
            let started = Instant::now();
            assert_eq!(req.send().await.unwrap().status(), 200);
            started.elapsed()
        }
    };
    let upload = |xff: &'static str, seed: u64| {
        let part = reqwest::multipart::Part::bytes(fixtures::png(8, 8, seed)).file_name("slow.png");
        let req = s.http.post(s.at("/api/image_upload")).header("x-forwarded-for", xff);
        async move {
            let started = Instant::now();
            let res = req.multipart(reqwest::multipart::Form::new().part("file", part)).send().await.unwrap();
            assert_eq!(res.status(), 200);
            started.elapsed()
        }
    };
    let mut quiet = Vec::new();
    for _ in 0..40 {
        quiet.push(list("192.0.2.1").await);
    }
    let quiet = median(quiet);
    let one_upload = upload("192.0.2.2", 900_001).await;

    let stop = Arc::new(AtomicBool::new(false));
    let flooders = flood(&s, "198.51.100.7", stop.clone());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut busy = Vec::new();
    for _ in 0..40 {
        busy.push(list("192.0.2.1").await);
    }
    let busy = median(busy);
    // Another uploader waits its turn, not behind the whole flood.
    let mut other = Vec::new();
    for seed in 2..5 {
        other.push(upload("192.0.2.2", 900_000 + seed).await);
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        let _ = f.await;
    }
    eprintln!("image_list p50 quiet {quiet:?}, under the flood {busy:?}; an upload alone {one_upload:?}, beside the flood {other:?}");
    // Reads: within 2x of the quiet figure (plus 2 ms of timer noise at this scale).
    assert!(busy <= quiet * 2 + Duration::from_millis(2), "quiet {quiet:?}, under the flood {busy:?}");
    // Uploads of another client: at most a few uploads' time, not four flooders' queue.
    let worst = *other.iter().max().unwrap();
    assert!(worst <= one_upload * 4 + Duration::from_millis(500), "alone {one_upload:?}, beside the flood {other:?}");
}
