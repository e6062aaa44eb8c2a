//! Encoding variants: JPEG (with a quality), PNG and lossless WebP, each with the
//! source's ICC profile when it has one that fits the pixels written.

use image::{DynamicImage, ExtendedColorType, ImageEncoder};

use super::Format;
use crate::refusal::Refusal;

/// Lays a pixel's colour channels on white by its alpha.
fn on_white(px: &[u8], out: &mut Vec<u8>) {
    let (colour, a) = px.split_at(px.len() - 1);
    let a = u16::from(a[0]);
    for &c in colour {
        out.push(((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
    }
}

/// Eight bits per channel, grey when the image has no colour (JPEG and PNG: WebP has
/// no grey pixels, its decoders give RGB), alpha only when it has some; JPEG never has
/// alpha (transparent pixels are laid on white).
fn pixels(image: &DynamicImage, format: Format) -> (Vec<u8>, ExtendedColorType) {
    let alpha = image.color().has_alpha();
    let grey = !image.color().has_color() && format != Format::Webp;
    match (format, alpha, grey) {
        (Format::Jpeg, true, true) => {
            let la = image.to_luma_alpha8();
            let mut out = Vec::with_capacity(la.as_raw().len() / 2);
            la.as_raw().chunks_exact(2).for_each(|px| on_white(px, &mut out));
            (out, ExtendedColorType::L8)
        }
        (Format::Jpeg, true, false) => {
            let rgba = image.to_rgba8();
            let mut out = Vec::with_capacity(rgba.as_raw().len() / 4 * 3);
            rgba.as_raw().chunks_exact(4).for_each(|px| on_white(px, &mut out));
            (out, ExtendedColorType::Rgb8)
        }
        (_, true, true) => (image.to_luma_alpha8().into_raw(), ExtendedColorType::La8),
        (_, true, false) => (image.to_rgba8().into_raw(), ExtendedColorType::Rgba8),
        (_, false, true) => (image.to_luma8().into_raw(), ExtendedColorType::L8),
        (_, false, false) => (image.to_rgb8().into_raw(), ExtendedColorType::Rgb8),
    }
}

/// The source's ICC profile, kept only when it describes the colour space written
/// (its header's bytes 16..20: `GRAY` for grey pixels, `RGB ` otherwise). A CMYK or
/// Lab profile on RGB pixels would be wrong (and invalid in a PNG), so it is dropped:
/// the pixels the decoder gave are then read as sRGB.
fn matching(icc: Option<Vec<u8>>, color: ExtendedColorType) -> Option<Vec<u8>> {
    let want: &[u8] = match color {
        ExtendedColorType::L8 | ExtendedColorType::La8 => b"GRAY",
        _ => b"RGB ",
    };
    icc.filter(|p| p.get(16..20) == Some(want))
}

fn failed(format: Format, e: impl std::fmt::Display) -> Refusal {
    Refusal::variant_failed(format.name(), e)
}

/// Encodes `image` as `format` (JPEG at `quality`), carrying `icc` over.
pub fn encode(image: &DynamicImage, format: Format, quality: u8, icc: Option<Vec<u8>>) -> Result<Vec<u8>, Refusal> {
    let (data, color) = pixels(image, format);
    let icc = matching(icc, color);
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
