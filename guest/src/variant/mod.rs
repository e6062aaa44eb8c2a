//! Variants: another width and format of a stored image, made with the `image` crate.
//!
//! The first frame is decoded (animations give their first frame: none of the output
//! formats here animate), turned the way its EXIF orientation says, shrunk with a
//! Lanczos3 filter (never enlarged), and encoded as JPEG, PNG or WebP. WebP output is
//! lossless (the `image` crate's WebP encoder has no lossy mode). Colour: the source's
//! ICC profile is carried over to the output (every output format can hold one), so the
//! pixels are not converted and a viewer that honours ICC shows the same colours.
//!
//! Cost: `width × height × frames decoded` of the source (frames decoded is 1: the
//! first frame) must stay within the request's `max_cost`, or the variant is refused
//! with a 422 before any pixel is decoded.

mod decode;
mod encode;

use crate::media::Limits;
use crate::reader::ReadAt;
use crate::refusal::Refusal;

pub use decode::{decode, Decoded};
pub use encode::encode;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    /// Lossless WebP.
    Webp,
}

impl Format {
    /// From the names the host uses ("jpeg", "png", "webp").
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "jpeg" | "jpg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }
}

/// What to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Largest width of the result (never larger than the shown original).
    pub width: u32,
    pub format: Format,
    /// JPEG quality, 1..=100 (other formats are lossless).
    pub quality: u8,
    /// Most `pixels × frames decoded` of the source this variant may cost.
    pub max_cost: u64,
}

/// A made variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// Frames decoded to make a variant: the first one only (no output format here animates).
pub const FRAMES_DECODED: u64 = 1;

/// Makes the variant `request` asks for of the image in `source`, or refuses it.
pub fn make<S: ReadAt + ?Sized>(source: &S, limits: &Limits, request: &Request) -> Result<Made, Refusal> {
    if request.width == 0 {
        return Err(Refusal::bad_variant("width must be at least 1"));
    }
    let decoded = decode(source, limits, request.max_cost)?;
    let shown = decoded.image;
    let (tw, th) = fit(shown.width(), shown.height(), request.width);
    let small = shrink(shown, tw, th);
    let bytes = encode::encode(&small, request.format, request.quality, decoded.icc)?;
    Ok(Made { bytes, format: request.format, width: tw, height: th })
}

/// Size at most `max_width` wide with the aspect kept; never larger than the original.
pub fn fit(width: u32, height: u32, max_width: u32) -> (u32, u32) {
    if width <= max_width {
        return (width, height);
    }
    let h = ((u64::from(height) * u64::from(max_width) + u64::from(width) / 2) / u64::from(width)).max(1) as u32;
    (max_width, h)
}

/// Checks a source of `width × height` against `max_cost` (see [`FRAMES_DECODED`]).
pub fn check_cost(width: u32, height: u32, max_cost: u64) -> Result<(), Refusal> {
    let cost = u64::from(width).saturating_mul(u64::from(height)).saturating_mul(FRAMES_DECODED);
    if cost > max_cost {
        return Err(Refusal::variant_too_costly(cost, max_cost));
    }
    Ok(())
}

/// Resizes to `tw × th` with Lanczos3; a large reduction first averages down to twice
/// the target (a box filter, cheap), which Lanczos3 then finishes: the same look for a
/// fraction of the work on a 12 MP photo.
pub fn shrink(image: image::DynamicImage, tw: u32, th: u32) -> image::DynamicImage {
    use image::imageops::FilterType;
    if tw >= image.width() && th >= image.height() {
        return image;
    }
    let image = if image.width() > tw.saturating_mul(4) && image.height() > th.saturating_mul(4) {
        image.thumbnail_exact(tw * 2, th * 2)
    } else {
        image
    };
    image.resize_exact(tw, th, FilterType::Lanczos3)
}

#[cfg(test)]
mod tests;
