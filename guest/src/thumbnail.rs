//! Thumbnails: the variant maker's code (the `image` crate: first frame, EXIF
//! orientation, Lanczos3, never enlarged) with PNG output. Runs in the sandbox like
//! every other parse.

use crate::inspect::Limits;
use crate::reader::ReadAt;
use crate::refusal::Refusal;
pub use crate::variant::fit;
use crate::variant::{self, Format};

/// An RGBA8 image.
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// A PNG thumbnail at most `max_width` wide (aspect kept, never enlarged), turned
/// the way the EXIF orientation says the image is shown.
pub fn thumbnail<S: ReadAt + ?Sized>(source: &S, limits: &Limits, max_width: u32) -> Result<Vec<u8>, Refusal> {
    // The size limits bound the cost: `probe` refuses anything over them first.
    let request = Format::Png;
    let decoded = variant::decode(source, limits, u64::MAX).map_err(|r| match r.status {
        // Videos (no decoder here) and unknown bytes are refused by the probe.
        415 => Refusal::unsupported_thumbnail(),
        _ => r,
    })?;
    let image = decoded.image;
    let (tw, th) = fit(image.width(), image.height(), max_width.max(1));
    variant::encode(&variant::shrink(image, tw, th), request, 90, decoded.icc)
}

/// Turns stored pixels into shown pixels for an EXIF orientation (1..=8), as the
/// variant maker does (the `image` crate's orientation).
pub fn orient(img: &Rgba, orientation: u16) -> Rgba {
    let Some(buffer) = image::RgbaImage::from_raw(img.width, img.height, img.pixels.clone()) else {
        return Rgba { width: img.width, height: img.height, pixels: img.pixels.clone() };
    };
    let mut shown = image::DynamicImage::ImageRgba8(buffer);
    if let Some(o) = u8::try_from(orientation).ok().and_then(image::metadata::Orientation::from_exif) {
        shown.apply_orientation(o);
    }
    Rgba { width: shown.width(), height: shown.height(), pixels: shown.into_rgba8().into_raw() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2x1 image: red then blue.
    fn red_blue() -> Rgba {
        Rgba { width: 2, height: 1, pixels: vec![255, 0, 0, 255, 0, 0, 255, 255] }
    }

    #[test]
    fn orientations_turn_the_pixels() {
        let img = red_blue();
        let red = [255, 0, 0, 255];
        let blue = [0, 0, 255, 255];
        type Case = (u16, (u32, u32), [[u8; 4]; 2]);
        let cases: [Case; 8] = [
            (1, (2, 1), [red, blue]),
            (2, (2, 1), [blue, red]),
            (3, (2, 1), [blue, red]),
            (4, (2, 1), [red, blue]),
            (5, (1, 2), [red, blue]),
            (6, (1, 2), [red, blue]),
            (7, (1, 2), [blue, red]),
            (8, (1, 2), [blue, red]),
        ];
        for (o, size, order) in cases {
            let out = orient(&img, o);
            assert_eq!((out.width, out.height), size, "orientation {o}");
            assert_eq!(&out.pixels[0..4], &order[0], "orientation {o}");
            assert_eq!(&out.pixels[4..8], &order[1], "orientation {o}");
        }
    }

    #[test]
    fn fit_never_enlarges() {
        assert_eq!(fit(100, 50, 300), (100, 50));
        assert_eq!(fit(600, 400, 300), (300, 200));
        assert_eq!(fit(60000, 1, 300), (300, 1));
    }
}
