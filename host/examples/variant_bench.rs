//! Variants of a 12-megapixel JPEG (4000x3000 photo-like pixels): a 640 px WebP and a
//! 640 px JPEG, made natively by the policy crate (`imgbed_policy::variant::make`, the
//! code the sandbox runs) and in the sandbox (the default policy's variant export, a
//! fresh instance per call, as `GET /images/{name}?w=640&format=…` makes them).
//!
//! cargo run --release -p imgbed-host --example variant_bench -- [ITERATIONS] [WIDTH] [HEIGHT]

mod bench_support;

use bench_support::{default_policy, photo_jpeg, staged, summary};
use std::time::{Duration, Instant};

use imgbed::policy::{VariantFormat, VariantRequest};
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
    let rt = default_policy(Duration::from_millis(2000));
    let (f, upload) = staged(&jpeg, "photo.jpg", "image/jpeg");
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
