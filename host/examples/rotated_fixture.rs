//! Writes `tests/fixtures/rotated.jpg`, the variant tests' turned photo: a 400x200 JPEG,
//! left half red and right half blue, whose EXIF orientation (6) says it is shown turned
//! clockwise: 200x400, red on top.
//!
//! cargo run -p imgbed-host --example rotated_fixture

fn main() {
    let (w, h) = (400u16, 200u16);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for _ in 0..h {
        for x in 0..w {
            pixels.extend_from_slice(if x < w / 2 { &[255, 0, 0] } else { &[0, 0, 255] });
        }
    }
    // A big-endian TIFF block with one IFD0 entry: Orientation (0x0112), SHORT, 1, value 6.
    let mut exif = b"Exif\0\0MM\0*".to_vec();
    exif.extend_from_slice(&8u32.to_be_bytes());
    exif.extend_from_slice(&1u16.to_be_bytes());
    for part in [&0x0112u16.to_be_bytes()[..], &3u16.to_be_bytes(), &1u32.to_be_bytes(), &6u16.to_be_bytes(), &[0, 0]] {
        exif.extend_from_slice(part);
    }
    exif.extend_from_slice(&0u32.to_be_bytes());
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    enc.add_app_segment(1, exif).expect("exif segment");
    enc.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).expect("encode");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rotated.jpg");
    std::fs::write(&path, &out).expect("write the fixture");
    println!("wrote {} ({} bytes)", path.display(), out.len());
}
