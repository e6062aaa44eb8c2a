//! Peak memory of the server while many clients upload large videos at once.
//! Starts the given `imgbed` binary (videos on, a temp data folder), streams
//! CLIENTS distinct mp4 files of MIB mebibytes each concurrently, samples the
//! server's resident memory every 20 ms, and reports the peak (and the kernel's
//! high-water mark, VmHWM) with the time taken.
//!
//! cargo run --release -p imgbed-host --example video_bench -- target/release/imgbed [CLIENTS] [MIB]
//!
//! `VIDEO_BENCH_DATABASE` (JSON) replaces the config's `database` section, e.g. to
//! store the files in an S3 bucket.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// ftyp + moov of the test fixture, followed by an mdat header for `payload` bytes.
fn mp4_head(payload: u64) -> Vec<u8> {
    let fixture = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tiny.mp4")).unwrap();
    let mdat = fixture.windows(4).position(|w| w == b"mdat").unwrap() - 4;
    let mut head = fixture[..mdat].to_vec();
    head.extend_from_slice(&1u32.to_be_bytes());
    head.extend_from_slice(b"mdat");
    head.extend_from_slice(&(payload + 16).to_be_bytes());
    head
}

/// Resident and peak-resident memory of `pid`, kB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let binary = args.get(1).expect("usage: video_bench path/to/imgbed [CLIENTS] [MIB]").clone();
    let clients: usize = args.get(2).map_or(16, |a| a.parse().unwrap());
    let mib: u64 = args.get(3).map_or(100, |a| a.parse().unwrap());
    let payload = mib * 1024 * 1024 - 4096;

    let dir = tempfile::tempdir().unwrap();
    let mut config = serde_json::json!({
        "port": 0, "log": {"level": "warn", "files": false}, "auth": {"jwt": false},
        "ip_filter": {"enabled": false}, "video": {"enabled": true, "size": mib * 1024 * 1024},
    });
    if let Ok(database) = std::env::var("VIDEO_BENCH_DATABASE") {
        config["database"] = serde_json::from_str(&database).expect("VIDEO_BENCH_DATABASE is JSON");
    }
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let mut child = Command::new(&binary)
        .arg("--config")
        .arg(dir.path().join("config.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server");
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("listening address").to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle, _) = memory(pid);
    println!("server pid {pid} at {url}; idle RSS {:.1} MB", idle as f64 / 1024.0);

    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(memory(pid).0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let http = reqwest::Client::new();
    let head = mp4_head(payload);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, head) = (http.clone(), url.clone(), head.clone());
        tasks.push(tokio::spawn(async move {
            // 1 MiB chunks; the first byte of each differs per client so no two files are equal.
            let chunks = payload.div_ceil(1 << 20);
            let stream = futures_util::stream::iter((0..chunks).map(move |i| {
                let len = (payload - i * (1 << 20)).min(1 << 20) as usize;
                let mut chunk = vec![0u8; len];
                chunk[0] = c as u8;
                Ok::<_, std::io::Error>(Bytes::from(chunk))
            }));
            let body = futures_util::stream::once(async move { Ok(Bytes::from(head)) });
            use futures_util::StreamExt;
            let body = reqwest::Body::wrap_stream(body.chain(stream));
            let part = reqwest::multipart::Part::stream(body).file_name(format!("clip{c}.mp4"));
            let form = reqwest::multipart::Form::new().part("file", part);
            let res = http.post(format!("{url}/api/image_upload")).multipart(form).send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            (status, text)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        if status == 200 {
            ok += 1;
        } else {
            println!("upload failed: {status} {text}");
        }
    }
    let took = start.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let (_, hwm) = memory(pid);
    println!(
        "{ok}/{clients} uploads of {mib} MiB in {:.1} s ({:.0} MB/s); peak RSS sampled {:.1} MB, VmHWM {:.1} MB",
        took.as_secs_f64(),
        (clients as f64 * mib as f64 * 1.048_576) / took.as_secs_f64(),
        peak.load(Ordering::Relaxed) as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let _ = child.kill();
    let _ = child.wait();
}
