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
