//! Test media made on the fly: real encoders for valid files, hand-built bytes for broken ones.

#![allow(dead_code)]

/// Pixels that differ with `seed`, so every fixture has distinct bytes.
fn pixels(w: u32, h: u32, channels: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..(w as usize * h as usize * channels))
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// A valid RGBA PNG.
pub fn png(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&pixels(w, h, 4, seed)).unwrap();
    }
    out
}

/// A PNG of roughly `bytes` bytes (noise does not compress).
pub fn png_of_size(bytes: usize, seed: u64) -> Vec<u8> {
    let side = ((bytes / 4) as f64).sqrt().ceil() as u32;
    png(side, side, seed)
}

/// A valid baseline JPEG.
pub fn jpeg(w: u16, h: u16, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, 85);
    enc.encode(&pixels(u32::from(w), u32::from(h), 3, seed), w, h, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// A valid GIF with `frames` frames (animated when more than one).
pub fn gif(w: u16, h: u16, frames: u32, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, i.wrapping_mul(3), i.wrapping_mul(7)]).collect();
        let mut enc = gif::Encoder::new(&mut out, w, h, &palette).unwrap();
        if frames > 1 {
            enc.set_repeat(gif::Repeat::Infinite).unwrap();
        }
        for f in 0..frames {
            let mut frame =
                gif::Frame::from_indexed_pixels(w, h, pixels(u32::from(w), u32::from(h), 1, seed + u64::from(f)), None);
            frame.delay = 10;
            enc.write_frame(&frame).unwrap();
        }
    }
    out
}

/// A valid lossless WebP.
pub fn webp(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out).encode(&pixels(w, h, 4, seed), w, h, image_webp::ColorType::Rgba8).unwrap();
    out
}

/// The PNG chunk checksum (CRC-32).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    out
}

/// A PNG whose header declares `w` x `h` pixels, with a tiny (bogus) data chunk:
/// a decoder that trusts the header would allocate w*h*4 bytes.
pub fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    out.extend(chunk(b"IEND", &[]));
    out
}

/// A valid PNG with one byte of its image data flipped (the chunk CRC no longer matches).
pub fn png_corrupt_data(seed: u64) -> Vec<u8> {
    let mut data = png(16, 16, seed);
    let idat = data.windows(4).position(|w| w == b"IDAT").expect("IDAT");
    data[idat + 4 + 10] ^= 0x55;
    data
}

/// The first `keep` bytes of `data`.
pub fn truncated(data: &[u8], keep: usize) -> Vec<u8> {
    data[..keep.min(data.len())].to_vec()
}
