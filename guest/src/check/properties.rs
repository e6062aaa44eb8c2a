//! Property tests over generated files: stripping never changes decoded pixels,
//! and no strict prefix of a file that declares its own end is accepted whole.

use super::generate::{self, Rng};
use crate::inspect::inspect;
use crate::metadata;

const CASES: u64 = 40;

/// Decoded pixels and the facts that shape them.
fn png_pixels(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
    let mut r = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("png decodes");
    let mut buf = vec![0; r.output_buffer_size().expect("size")];
    let info = r.next_frame(&mut buf).expect("png frame");
    (info, buf)
}

fn jpeg_pixels(bytes: &[u8]) -> (jpeg_decoder::ImageInfo, Vec<u8>) {
    let mut d = jpeg_decoder::Decoder::new(bytes);
    let pixels = d.decode().expect("jpeg decodes");
    (d.info().expect("info"), pixels)
}

fn webp_pixels(bytes: &[u8]) -> ((u32, u32, bool), Vec<u8>) {
    let mut d = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).expect("webp decodes");
    let mut buf = vec![0; d.output_buffer_size().expect("size")];
    d.read_image(&mut buf).expect("webp image");
    let (w, h) = d.dimensions();
    ((w, h, d.has_alpha()), buf)
}

/// Strips `made`, checks the pieces and the description, and returns the stripped bytes.
fn stripped(made: &[u8]) -> Vec<u8> {
    let limits = super::image_limits();
    let before = inspect(made, &limits).expect("the generated file is accepted");
    let pieces = metadata::strip(made).expect("strip").expect("the generated file has metadata");
    super::pieces(made.len() as u64, &pieces);
    let out = metadata::assemble(made, &pieces);
    assert!(out.len() < made.len(), "nothing was dropped");
    assert_eq!(inspect(&out[..], &limits).expect("the stripped file is accepted"), before);
    super::run("strip", made);
    out
}

#[test]
fn stripping_never_changes_decoded_png_pixels() {
    let mut rng = Rng::new(1);
    for _ in 0..CASES {
        let junk = rng.coin();
        let made = generate::png(&mut rng, junk);
        let (info, pixels) = png_pixels(&made);
        let (info2, pixels2) = png_pixels(&stripped(&made));
        assert_eq!(
            (info.width, info.height, info.color_type, info.bit_depth),
            (info2.width, info2.height, info2.color_type, info2.bit_depth)
        );
        assert!(pixels == pixels2, "stripping changed the pixels");
    }
}

#[test]
fn stripping_never_changes_decoded_jpeg_pixels() {
    let mut rng = Rng::new(2);
    for _ in 0..CASES {
        let junk = rng.coin();
        let made = generate::jpeg(&mut rng, junk);
        let (info, pixels) = jpeg_pixels(&made);
        let (info2, pixels2) = jpeg_pixels(&stripped(&made));
        assert_eq!(info, info2);
        assert!(pixels == pixels2, "stripping changed the pixels");
    }
}

#[test]
fn stripping_never_changes_decoded_webp_pixels() {
    let mut rng = Rng::new(3);
    for case in 0..CASES {
        // The simple format has no metadata: it is stripped only of junk after its end.
        let extended = case % 4 != 0;
        let junk = !extended || rng.coin();
        let made = generate::webp(&mut rng, extended, junk);
        let (info, pixels) = webp_pixels(&made);
        let (info2, pixels2) = webp_pixels(&stripped(&made));
        assert_eq!(info, info2);
        assert!(pixels == pixels2, "stripping changed the pixels");
    }
}

/// Every strict prefix of `bytes`, which `inspect` accepts whole, is refused.
fn no_prefix_accepted(what: &str, bytes: &[u8], limits: &crate::inspect::Limits) {
    let whole = super::inspect(bytes, limits).unwrap_or_else(|r| panic!("generated {what} refused: {r:?}"));
    for len in 0..bytes.len() {
        if let Ok(found) = super::inspect(&bytes[..len], limits) {
            panic!("{what}: a {len}-byte prefix of {} bytes is accepted as {found:?} (whole: {whole:?})", bytes.len());
        }
    }
}

#[test]
fn no_strict_prefix_of_an_image_is_accepted() {
    let mut rng = Rng::new(4);
    let limits = super::image_limits();
    for _ in 0..CASES / 2 {
        no_prefix_accepted("png", &generate::png(&mut rng, false), &limits);
        no_prefix_accepted("jpeg", &generate::jpeg(&mut rng, false), &limits);
        no_prefix_accepted("gif", &generate::gif(&mut rng), &limits);
        let extended = rng.coin();
        no_prefix_accepted("webp", &generate::webp(&mut rng, extended, false), &limits);
    }
}

#[test]
fn no_strict_prefix_of_a_video_is_accepted() {
    let mut rng = Rng::new(5);
    let limits = super::video_limits();
    for _ in 0..CASES {
        no_prefix_accepted("mp4", &generate::mp4(&mut rng), &limits);
        no_prefix_accepted("webm", &generate::webm(&mut rng), &limits);
    }
}
