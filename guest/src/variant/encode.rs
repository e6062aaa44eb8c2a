//! Encoding variants: JPEG (with a quality), PNG and lossless WebP, each with the
//! source's ICC profile when it has one.

use image::{DynamicImage, ExtendedColorType, ImageEncoder};

use super::Format;
use crate::refusal::Refusal;

/// Eight bits per channel, alpha only when the image has some; JPEG never has alpha
/// (transparent pixels are laid on white).
fn pixels(image: &DynamicImage, format: Format) -> (Vec<u8>, ExtendedColorType) {
    let alpha = image.color().has_alpha();
    match (format, alpha) {
        (Format::Jpeg, true) => {
            let rgba = image.to_rgba8();
            let mut out = Vec::with_capacity(rgba.as_raw().len() / 4 * 3);
            for px in rgba.as_raw().chunks_exact(4) {
                let a = u16::from(px[3]);
                for &c in &px[..3] {
                    out.push(((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
                }
            }
            (out, ExtendedColorType::Rgb8)
        }
        (_, true) => (image.to_rgba8().into_raw(), ExtendedColorType::Rgba8),
        (_, false) => (image.to_rgb8().into_raw(), ExtendedColorType::Rgb8),
    }
}

fn failed(format: Format, e: impl std::fmt::Display) -> Refusal {
    Refusal::variant_failed(format.name(), e)
}

/// Encodes `image` as `format` (JPEG at `quality`), carrying `icc` over.
pub fn encode(image: &DynamicImage, format: Format, quality: u8, icc: Option<Vec<u8>>) -> Result<Vec<u8>, Refusal> {
    let (data, color) = pixels(image, format);
    let (w, h) = (image.width(), image.height());
    let mut out = Vec::new();
    let result = match format {
        Format::Jpeg => {
            let mut e = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
            if let Some(icc) = icc {
                let _ = e.set_icc_profile(icc);
            }
            e.write_image(&data, w, h, color)
        }
        Format::Png => {
            use image::codecs::png::{CompressionType, FilterType, PngEncoder};
            let mut e = PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
            if let Some(icc) = icc {
                let _ = e.set_icc_profile(icc);
            }
            e.write_image(&data, w, h, color)
        }
        Format::Webp => {
            let mut e = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            if let Some(icc) = icc {
                let _ = e.set_icc_profile(icc);
            }
            e.write_image(&data, w, h, color)
        }
    };
    result.map_err(|e| failed(format, e))?;
    Ok(out)
}
