//! Thumbnail of a 12-megapixel JPEG (4000x3000 photo-like pixels): in the
//! sandbox (the default policy's `thumbnail` export, fresh instance per call)
//! against the same crate compiled natively. Both run the same code path: the
//! header probe, the `image` crate's decode, a box pre-shrink then Lanczos3, PNG encode.
//!
//! cargo run --release -p imgbed-host --example thumb_bench -- [ITERATIONS] [WIDTH] [HEIGHT]

mod bench_support;

use bench_support::{default_policy, photo_jpeg, staged, summary};
use std::time::{Duration, Instant};

use imgbed::policy::{Judgement, Thumbnail, Verdict, Wanted};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: usize = args.get(1).map_or(5, |a| a.parse().unwrap());
    let w: u16 = args.get(2).map_or(4000, |a| a.parse().unwrap());
    let h: u16 = args.get(3).map_or(3000, |a| a.parse().unwrap());
    let jpeg = photo_jpeg(w, h);
    println!("{w}x{h} JPEG ({:.1} MP), {} bytes; thumbnail 300 px wide", f64::from(w) * f64::from(h) / 1e6, jpeg.len());

    // Natively: the policy crate as a library.
    let limits = imgbed_policy::inspect::Limits::default();
    let mut native = Vec::new();
    for _ in 0..iterations {
        let t = Instant::now();
        let png = imgbed_policy::thumbnail::thumbnail(&jpeg[..], &limits, 300).unwrap();
        native.push(t.elapsed());
        assert!(png.starts_with(b"\x89PNG"));
    }
    summary("native (same crate, release)", native);

    // In the sandbox, as the upload handler calls it.
    let rt = default_policy(Duration::from_secs(60));
    let (f, upload) = staged(&jpeg, "photo.jpg", "image/jpeg");
    let mut sandboxed = Vec::new();
    for _ in 0..iterations {
        let (u, file) = (upload.clone(), f.reopen().unwrap());
        let t = Instant::now();
        let wanted = Wanted { strip: false, thumbnail_width: Some(300) };
        let judged = rt.run(move |s| s.judge(&u, &file, wanted)).await.unwrap().unwrap();
        let Judgement::Judged(Verdict { thumbnail: Thumbnail::Made(png), .. }) = judged else { panic!("no thumbnail") };
        sandboxed.push(t.elapsed());
        assert!(png.starts_with(b"\x89PNG"));
    }
    summary("sandbox (wasm32-wasip2, fresh instance per call; judge = inspect + thumbnail)", sandboxed);
    let (u, file) = (upload.clone(), f.reopen().unwrap());
    let t = Instant::now();
    rt.run(move |s| s.inspect(&u, &file)).await.unwrap().unwrap();
    println!("sandbox inspect alone (the upload's validation): {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
}
