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

/// Camera make written into [`exif_with_gps`]; must never survive stripping.
pub const CAMERA: &[u8] = b"TestCam";
/// Marker text in XMP, comments and text chunks; must never survive stripping.
pub const SECRET: &[u8] = b"secret-place-42";
/// The GPSInfo pointer entry of [`exif_with_gps`] (tag 0x8825, LONG, little-endian).
pub const GPS_TAG: &[u8] = &[0x25, 0x88, 0x04, 0x00];

/// Little-endian EXIF (TIFF) with a camera make, an orientation and a GPS latitude.
pub fn exif_with_gps(orientation: u16) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value);
    };
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x010F, 2, 8, 50u32.to_le_bytes());
    let o = orientation.to_le_bytes();
    entry(&mut t, 0x0112, 3, 1, [o[0], o[1], 0, 0]);
    entry(&mut t, 0x8825, 4, 1, 58u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 50);
    t.extend_from_slice(CAMERA);
    t.push(0);
    // GPS IFD: latitude reference and latitude 31° 14' 23.45".
    t.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, 5, 3, 90u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&[0, 0]);
    for (num, den) in [(31u32, 1u32), (14, 1), (2345, 100)] {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    t
}

/// The minimal big-endian Orientation entry a stripped file keeps for `orientation`.
pub fn orientation_entry(orientation: u16) -> Vec<u8> {
    let mut e = vec![0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01];
    e.extend_from_slice(&orientation.to_be_bytes());
    e
}

/// A stand-in ICC profile (no 0xFF bytes, so it never looks like a JPEG marker).
pub fn icc_profile() -> Vec<u8> {
    (0..600u32).map(|i| (i % 200) as u8 + 1).collect()
}

/// A JPEG with EXIF (camera, orientation, GPS), XMP, a Photoshop/IPTC block, a comment-like
/// APP segment and an ICC profile.
pub fn jpeg_with_metadata(w: u16, h: u16, seed: u64, orientation: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 85);
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend(exif_with_gps(orientation));
    enc.add_app_segment(1, exif).unwrap();
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>".to_vec();
    xmp.extend_from_slice(SECRET);
    xmp.extend_from_slice(b"</x:xmpmeta>");
    enc.add_app_segment(1, xmp).unwrap();
    let mut iptc = b"Photoshop 3.0\08BIM".to_vec();
    iptc.extend_from_slice(SECRET);
    enc.add_app_segment(13, iptc).unwrap();
    enc.add_icc_profile(&icc_profile()).unwrap();
    enc.encode(&pixels(u32::from(w), u32::from(h), 3, seed), w, h, jpeg_encoder::ColorType::Rgb).unwrap();
    // A comment segment right after SOI.
    let mut com = vec![0xFF, 0xFE, 0, (SECRET.len() + 2) as u8];
    com.extend_from_slice(SECRET);
    out.splice(2..2, com);
    out
}

/// A PNG with eXIf (camera, orientation, GPS), text chunks, sRGB and an ICC profile.
pub fn png_with_metadata(w: u32, h: u32, seed: u64, orientation: u16) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut info = png::Info::with_size(w, h);
        info.color_type = png::ColorType::Rgba;
        info.bit_depth = png::BitDepth::Eight;
        info.exif_metadata = Some(exif_with_gps(orientation).into());
        info.icc_profile = Some(icc_profile().into());
        let mut enc = png::Encoder::with_info(&mut out, info).unwrap();
        enc.add_text_chunk("Comment".into(), String::from_utf8(SECRET.to_vec()).unwrap()).unwrap();
        enc.add_itxt_chunk("Location".into(), String::from_utf8(SECRET.to_vec()).unwrap()).unwrap();
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&pixels(w, h, 4, seed)).unwrap();
        writer.finish().unwrap();
    }
    out
}

/// An extended WebP (VP8X) with EXIF (camera, orientation, GPS), XMP and an ICC profile.
pub fn webp_with_metadata(w: u32, h: u32, seed: u64, orientation: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = image_webp::WebPEncoder::new(&mut out);
    enc.set_exif_metadata(exif_with_gps(orientation));
    let mut xmp = b"<x:xmpmeta>".to_vec();
    xmp.extend_from_slice(SECRET);
    xmp.extend_from_slice(b"</x:xmpmeta>");
    enc.set_xmp_metadata(xmp);
    enc.set_icc_profile(icc_profile());
    enc.encode(&pixels(w, h, 4, seed), w, h, image_webp::ColorType::Rgba8).unwrap();
    out
}

/// A 1-bit grey PNG of `w` x `h` zero pixels: tiny on disk, huge once decoded.
pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        enc.set_compression(png::Compression::High);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&vec![0u8; (w as usize).div_ceil(8) * h as usize]).unwrap();
    }
    out
}

/// Small real videos made with ffmpeg (64x48, 1 s, 10 fps): H.264+AAC mp4, H.264 mov, VP9 webm.
pub fn video(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `tiny.mp4` with the movie header claiming `seconds` of duration.
pub fn mp4_lasting(seconds: u32) -> Vec<u8> {
    let mut data = video("tiny.mp4");
    let mvhd = data.windows(4).position(|w| w == b"mvhd").expect("mvhd") + 4;
    assert_eq!(data[mvhd], 0, "version 0 mvhd");
    let scale = u32::from_be_bytes(data[mvhd + 12..mvhd + 16].try_into().unwrap());
    data[mvhd + 16..mvhd + 20].copy_from_slice(&(scale * seconds).to_be_bytes());
    data
}

/// `tiny.mp4` with its media data box declaring `size` bytes (64-bit size field).
pub fn mp4_with_huge_box(size: u64) -> Vec<u8> {
    let data = video("tiny.mp4");
    let mdat = data.windows(4).position(|w| w == b"mdat").expect("mdat") - 4;
    let mut out = data[..mdat].to_vec();
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&data[mdat + 8..]);
    out
}

/// Where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
