//! Upload load generator: distinct PNGs (every request different bytes, so
//! deduplication never turns it into cache hits) from concurrent clients.
//!
//! cargo run --release -p imgbed-host --example upload_bench -- URL [CLIENTS] [REQUESTS] [BYTES] [TOKEN]

mod bench_support;

use bench_support::noise_png;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("usage: upload_bench URL [CLIENTS] [REQUESTS] [BYTES] [TOKEN]").clone();
    let clients: usize = args.get(2).map_or(32, |a| a.parse().unwrap());
    let requests: usize = args.get(3).map_or(1000, |a| a.parse().unwrap());
    let bytes: usize = args.get(4).map_or(200_000, |a| a.parse().unwrap());
    let token = args.get(5).cloned();
    let seed0: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..requests).map(|i| noise_png(bytes, seed0 + i as u64)).collect());
    println!("{requests} distinct PNGs of {} bytes, {clients} clients", bodies[0].len());
    let endpoint = match &token {
        Some(t) => format!("{url}/api/image_upload?token={t}"),
        None => format!("{url}/api/image_upload"),
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, next, bodies, endpoint, failures) =
            (http.clone(), next.clone(), bodies.clone(), endpoint.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    break;
                }
                let part = reqwest::multipart::Part::bytes(bodies[i].clone()).file_name(format!("bench-{i}.png"));
                let form = reqwest::multipart::Form::new().part("file", part);
                let t = Instant::now();
                let ok = match http.post(&endpoint).multipart(form).send().await {
                    Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                    Err(_) => false,
                };
                latencies.push(t.elapsed());
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    println!(
        "uploads/s {:.1}  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  failures {}  ({} requests in {:.2} s)",
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        all.last().unwrap().as_secs_f64() * 1e3,
        failures.load(Ordering::Relaxed),
        all.len(),
        elapsed.as_secs_f64()
    );
}
