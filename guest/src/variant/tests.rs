use super::*;
use crate::metadata::exif;

const RED: [u8; 3] = [255, 0, 0];
const BLUE: [u8; 3] = [0, 0, 255];

/// A `w × h` JPEG, left half red and right half blue, with EXIF `orientation`.
fn halves_jpeg(w: u16, h: u16, orientation: u16) -> Vec<u8> {
    let mut pixels = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            pixels.extend_from_slice(if x < w / 2 { &RED } else { &BLUE });
        }
    }
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 95);
    let mut block = b"Exif\0\0".to_vec();
    block.extend(exif::minimal(orientation));
    enc.add_app_segment(1, block).unwrap();
    enc.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

fn request(width: u32, format: Format) -> Request {
    Request { width, format, quality: 85, max_cost: 40_000_000 }
}

fn close(px: &[u8], want: [u8; 3]) -> bool {
    px.iter().zip(want).all(|(&a, b)| a.abs_diff(b) < 48)
}

fn decoded(made: &Made) -> image::RgbaImage {
    let format = match made.format {
        Format::Jpeg => image::ImageFormat::Jpeg,
        Format::Png => image::ImageFormat::Png,
        Format::Webp => image::ImageFormat::WebP,
    };
    let img = image::load_from_memory_with_format(&made.bytes, format).expect("the variant decodes");
    assert_eq!((img.width(), img.height()), (made.width, made.height), "{:?}", made.format);
    img.to_rgba8()
}

#[test]
fn a_turned_jpeg_comes_out_upright_in_every_format() {
    // Stored 64x32 (red left, blue right); orientation 6 shows it turned clockwise:
    // 32x64, red on top.
    let jpeg = halves_jpeg(64, 32, 6);
    for format in [Format::Jpeg, Format::Png, Format::Webp] {
        let made = make(&jpeg[..], &Limits::default(), &request(16, format)).unwrap();
        assert_eq!((made.width, made.height), (16, 32), "{format:?}");
        let img = decoded(&made);
        assert!(close(&img.get_pixel(8, 3).0[..3], RED), "{format:?} top: {:?}", img.get_pixel(8, 3));
        assert!(close(&img.get_pixel(8, 28).0[..3], BLUE), "{format:?} bottom: {:?}", img.get_pixel(8, 28));
    }
    // Orientation 8 turns it the other way: blue on top.
    let made = make(&halves_jpeg(64, 32, 8)[..], &Limits::default(), &request(16, Format::Png)).unwrap();
    let img = decoded(&made);
    assert!(close(&img.get_pixel(8, 3).0[..3], BLUE), "{:?}", img.get_pixel(8, 3));
}

#[test]
fn each_exif_orientation_turns_the_pixels() {
    // Stored 64x32, red left and blue right: (orientation, shown size, colour first
    // along the long side).
    let cases = [
        (1, (16, 8), RED),
        (2, (16, 8), BLUE),
        (3, (16, 8), BLUE),
        (4, (16, 8), RED),
        (5, (8, 16), RED),
        (6, (8, 16), RED),
        (7, (8, 16), BLUE),
        (8, (8, 16), BLUE),
    ];
    for (orientation, (w, h), first) in cases {
        let made = make(&halves_jpeg(64, 32, orientation)[..], &Limits::default(), &request(w, Format::Png)).unwrap();
        assert_eq!((made.width, made.height), (w, h), "orientation {orientation}");
        let img = decoded(&made);
        let (x, y) = if w > h { (2, h / 2) } else { (w / 2, 2) };
        assert!(close(&img.get_pixel(x, y).0[..3], first), "orientation {orientation}: {:?}", img.get_pixel(x, y));
    }
}

#[test]
fn never_enlarged_and_the_aspect_is_kept() {
    let jpeg = halves_jpeg(64, 32, 1);
    let made = make(&jpeg[..], &Limits::default(), &request(1920, Format::Webp)).unwrap();
    assert_eq!((made.width, made.height), (64, 32));
    let made = make(&jpeg[..], &Limits::default(), &request(20, Format::Jpeg)).unwrap();
    assert_eq!((made.width, made.height), (20, 10));
    assert!(made.bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
}

#[test]
fn a_large_reduction_keeps_the_colours_apart() {
    let jpeg = halves_jpeg(1200, 600, 1);
    let made = make(&jpeg[..], &Limits::default(), &request(100, Format::Png)).unwrap();
    let img = decoded(&made);
    assert_eq!((img.width(), img.height()), (100, 50));
    assert!(close(&img.get_pixel(10, 25).0[..3], RED));
    assert!(close(&img.get_pixel(90, 25).0[..3], BLUE));
}

#[test]
fn too_costly_is_a_422_before_decoding() {
    let jpeg = halves_jpeg(64, 32, 1);
    let mut r = request(16, Format::Png);
    r.max_cost = 64 * 32 - 1;
    let refusal = make(&jpeg[..], &Limits::default(), &r).unwrap_err();
    assert_eq!((refusal.status, refusal.code), (422, "variant_too_costly"));
    r.max_cost = 64 * 32;
    assert!(make(&jpeg[..], &Limits::default(), &r).is_ok());
}

#[test]
fn an_animation_gives_its_first_frame() {
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, 8, 8, &[255, 0, 0, 0, 0, 255]).unwrap();
        for index in [0u8, 1] {
            let mut frame = gif::Frame { width: 8, height: 8, delay: 10, ..gif::Frame::default() };
            frame.buffer = std::borrow::Cow::Owned(vec![index; 64]);
            enc.write_frame(&frame).unwrap();
        }
    }
    let made = make(&out[..], &Limits::default(), &request(4, Format::Png)).unwrap();
    let img = decoded(&made);
    assert_eq!((img.width(), img.height()), (4, 4));
    assert!(close(&img.get_pixel(2, 2).0[..3], RED), "{:?}", img.get_pixel(2, 2));
}

#[test]
fn transparency_goes_to_white_in_jpeg_and_stays_in_png_and_webp() {
    let mut png = Vec::new();
    let clear = image::RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 0]));
    clear.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let img = decoded(&make(&png[..], &Limits::default(), &request(4, Format::Jpeg)).unwrap());
    assert!(close(&img.get_pixel(1, 1).0[..3], [255, 255, 255]), "{:?}", img.get_pixel(1, 1));
    for format in [Format::Png, Format::Webp] {
        let img = decoded(&make(&png[..], &Limits::default(), &request(4, format)).unwrap());
        assert_eq!(img.get_pixel(1, 1).0[3], 0, "{format:?}");
    }
}

/// A made-up ICC profile whose header names `space` (bytes 16..20) as its colour space.
fn profile(space: &[u8; 4]) -> Vec<u8> {
    let mut p: Vec<u8> = (0..=255u8).cycle().take(600).collect();
    p[12..16].copy_from_slice(b"mntr");
    p[16..20].copy_from_slice(space);
    p
}

/// A 16x16 PNG of flat `color` pixels carrying `icc`.
fn png_with_profile(icc: &[u8], color: image::ExtendedColorType) -> Vec<u8> {
    use image::ImageEncoder;
    let mut png = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut png);
    enc.set_icc_profile(icc.to_vec()).unwrap();
    let px = vec![200u8; 16 * 16 * usize::from(color.bits_per_pixel() / 8)];
    enc.write_image(&px, 16, 16, color).unwrap();
    png
}

/// The ICC profile and colour type of a made variant, as its decoder reads them.
fn profile_of(made: &Made) -> (Option<Vec<u8>>, image::ColorType) {
    use image::ImageDecoder;
    let cursor = std::io::Cursor::new(&made.bytes);
    match made.format {
        Format::Jpeg => {
            let mut d = image::codecs::jpeg::JpegDecoder::new(cursor).unwrap();
            (d.icc_profile().unwrap(), d.color_type())
        }
        Format::Png => {
            let mut d = image::codecs::png::PngDecoder::new(cursor).unwrap();
            (d.icc_profile().unwrap(), d.color_type())
        }
        Format::Webp => {
            let mut d = image::codecs::webp::WebPDecoder::new(cursor).unwrap();
            (d.icc_profile().unwrap(), d.color_type())
        }
    }
}

#[test]
fn the_icc_profile_is_carried_over() {
    let rgb = profile(b"RGB ");
    let png = png_with_profile(&rgb, image::ExtendedColorType::Rgb8);
    for format in [Format::Jpeg, Format::Png, Format::Webp] {
        let made = make(&png[..], &Limits::default(), &request(8, format)).unwrap();
        assert_eq!(profile_of(&made), (Some(rgb.clone()), image::ColorType::Rgb8), "{format:?}");
    }
}

#[test]
fn a_grey_image_stays_grey_with_its_grey_profile() {
    let gray = profile(b"GRAY");
    let png = png_with_profile(&gray, image::ExtendedColorType::L8);
    for format in [Format::Jpeg, Format::Png] {
        let made = make(&png[..], &Limits::default(), &request(8, format)).unwrap();
        let (icc, color) = profile_of(&made);
        assert_eq!(icc.as_deref(), Some(&gray[..]), "{format:?}");
        assert!(!color.has_color(), "{format:?}: {color:?}");
        assert!(close(&decoded(&made).get_pixel(3, 3).0[..3], [200, 200, 200]), "{format:?}");
    }
    // WebP has no grey pixels: RGB, so the grey profile no longer fits and is dropped.
    let made = make(&png[..], &Limits::default(), &request(8, Format::Webp)).unwrap();
    assert_eq!(profile_of(&made), (None, image::ColorType::Rgb8));
    assert!(close(&decoded(&made).get_pixel(3, 3).0[..3], [200, 200, 200]));
}

#[test]
fn a_profile_for_other_pixels_than_those_written_is_dropped() {
    // A grey profile on colour pixels, and a CMYK profile (the decoder hands out RGB).
    for space in [b"GRAY", b"CMYK"] {
        let png = png_with_profile(&profile(space), image::ExtendedColorType::Rgb8);
        for format in [Format::Jpeg, Format::Png, Format::Webp] {
            let made = make(&png[..], &Limits::default(), &request(8, format)).unwrap();
            assert_eq!(profile_of(&made), (None, image::ColorType::Rgb8), "{format:?} {space:?}");
        }
    }
}

#[test]
fn bad_bytes_and_bad_requests_are_refused() {
    let jpeg = halves_jpeg(64, 32, 1);
    let cut = &jpeg[..jpeg.len() / 2];
    assert_eq!(make(cut, &Limits::default(), &request(16, Format::Png)).unwrap_err().status, 422);
    assert_eq!(make(&b"hello world"[..], &Limits::default(), &request(16, Format::Png)).unwrap_err().status, 415);
    assert_eq!(make(&jpeg[..], &Limits::default(), &request(0, Format::Png)).unwrap_err().code, "bad_variant");
    assert_eq!(Format::parse("webp"), Some(Format::Webp));
    assert_eq!(Format::parse("avif"), None);
}
