//! Shared by the benchmark examples.

#![allow(dead_code)] // each example uses part of it

/// A noise PNG of about `bytes` bytes (noise does not compress); `seed` makes it distinct.
pub fn noise_png(bytes: usize, seed: u64) -> Vec<u8> {
    let side = ((bytes / 4) as f64).sqrt().ceil() as u32;
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let pixels: Vec<u8> = (0..side as usize * side as usize * 4)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side, side);
    enc.set_color(png::ColorType::Rgba);
    enc.set_compression(png::Compression::Fast);
    enc.write_header().unwrap().write_image_data(&pixels).unwrap();
    out
}

/// Smooth gradients plus a little noise: compresses like a photo, not like noise.
pub fn photo_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..u32::from(h) {
        for xx in 0..u32::from(w) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x & 15) as u32;
            pixels.push(((xx * 255 / u32::from(w)) + n).min(255) as u8);
            pixels.push(((y * 255 / u32::from(h)) + n).min(255) as u8);
            pixels.push((((xx + y) * 255 / (u32::from(w) + u32::from(h))) + n).min(255) as u8);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85).encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// Mean, fastest and slowest of `times`, in milliseconds.
pub fn summary(what: &str, mut times: Vec<std::time::Duration>) {
    times.sort();
    let mean = times.iter().sum::<std::time::Duration>() / times.len() as u32;
    println!(
        "{what}: mean {:.0} ms  min {:.0} ms  max {:.0} ms  (n={})",
        mean.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );
}

/// The benchmarks' sandbox limits: one light and one heavy thread, a 256 MiB memory cap
/// and `deadline` per call.
pub fn limits(deadline: std::time::Duration) -> imgbed::policy::Limits {
    imgbed::policy::Limits { memory_bytes: 256 << 20, deadline, workers: 1, heavy_workers: 1 }
}

/// The default policy in a runtime with the benchmarks' [`limits`].
pub fn default_policy(deadline: std::time::Duration) -> std::sync::Arc<imgbed::policy::PolicyRuntime> {
    let rt = imgbed::policy::PolicyRuntime::new(
        imgbed::policy::BUILTIN_POLICY,
        limits(deadline),
        Default::default(),
        imgbed::policy::no_storage(),
    );
    std::sync::Arc::new(rt.unwrap())
}

/// `bytes` in a temp file, with the upload the policy is asked about.
pub fn staged(bytes: &[u8], filename: &str, declared_type: &str) -> (tempfile::NamedTempFile, imgbed::policy::Upload) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, bytes).unwrap();
    let upload = imgbed::policy::Upload {
        filename: filename.into(),
        declared_type: declared_type.into(),
        size: bytes.len() as u64,
        digest: "00".repeat(32),
        owner: "bench".into(),
        received_at: 0.0,
    };
    (f, upload)
}
