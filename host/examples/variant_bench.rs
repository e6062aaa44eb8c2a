//! Variants of a 12-megapixel JPEG (4000x3000 photo-like pixels): a 640 px WebP and a
//! 640 px JPEG, made natively by the policy crate (`imgbed_policy::variant::make`, the
//! code the sandbox runs) and in the sandbox (the default policy's variant export, a
//! fresh instance per call, as `GET /images/{name}?w=640&format=…` makes them).
//!
//! cargo run --release -p imgbed-host --example variant_bench -- [ITERATIONS] [WIDTH] [HEIGHT]

mod bench_support;

use bench_support::{photo_jpeg, summary};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imgbed::policy::{Limits, PolicyRuntime, Upload, VariantFormat, VariantRequest, BUILTIN_POLICY};
use imgbed_policy::variant::{self, Format, Request};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: usize = args.get(1).map_or(5, |a| a.parse().unwrap());
    let w: u16 = args.get(2).map_or(4000, |a| a.parse().unwrap());
    let h: u16 = args.get(3).map_or(3000, |a| a.parse().unwrap());
    let jpeg = photo_jpeg(w, h);
    println!("{w}x{h} JPEG ({:.1} MP), {} bytes; variants 640 px wide", f64::from(w) * f64::from(h) / 1e6, jpeg.len());
    let limits = imgbed_policy::inspect::Limits::default();
    for format in [Format::Webp, Format::Jpeg] {
        let request = Request { width: 640, format, quality: 82, max_cost: 40_000_000 };
        let mut native = Vec::new();
        let mut size = 0;
        for _ in 0..iterations {
            let t = Instant::now();
            let made = variant::make(&jpeg[..], &limits, &request).unwrap();
            native.push(t.elapsed());
            size = made.bytes.len();
        }
        summary(&format!("native {} ({size} bytes)", format.name()), native);
    }

    // In the sandbox, as the variant cache calls it: the policy's default deadline (2 s)
    // and memory cap (256 MiB), on the heavy scheduler.
    let sandbox_limits =
        Limits { memory_bytes: 256 << 20, deadline: Duration::from_millis(2000), workers: 1, heavy_workers: 1 };
    let rt = Arc::new(
        PolicyRuntime::new(BUILTIN_POLICY, sandbox_limits, Default::default(), imgbed::policy::no_storage()).unwrap(),
    );
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&jpeg).unwrap();
    let upload = Upload {
        filename: "photo.jpg".into(),
        declared_type: "image/jpeg".into(),
        size: jpeg.len() as u64,
        digest: "00".repeat(32),
        owner: "bench".into(),
        received_at: 0.0,
    };
    for format in [VariantFormat::Webp, VariantFormat::Jpeg] {
        let request = VariantRequest { width: 640, format, quality: 82, max_cost: 40_000_000 };
        let mut sandboxed = Vec::new();
        let mut size = 0;
        for _ in 0..iterations {
            let (u, file) = (upload.clone(), f.reopen().unwrap());
            let t = Instant::now();
            let made = rt.run_heavy("bench", move |s| s.make_variant(&u, &file, request)).await.unwrap();
            let made = made.expect("the built-in policy makes variants").unwrap();
            sandboxed.push(t.elapsed());
            size = made.bytes.len();
        }
        summary(&format!("sandbox {format:?} ({size} bytes, fresh instance per call)"), sandboxed);
    }
}
