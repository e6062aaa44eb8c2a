//! Recognises uploads by their bytes and really decodes them.
//!
//! Dimensions are checked from the header before any pixel buffer is made,
//! and decoding runs row by row or frame by frame where the codec allows, so
//! a bomb is refused early and a truncated or corrupt file fails to decode.

use crate::reader::{OffsetReader, ReadAt};
use crate::refusal::Refusal;

/// A 1x1 PNG used by the self-tests.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

pub use crate::media::{Found, Kind, Limits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
    Gif,
    Webp,
}

fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(Format::Gif)
    } else if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(Format::Webp)
    } else {
        None
    }
}

/// Decode `source` and describe it, or refuse it.
pub fn inspect<S: ReadAt + ?Sized>(source: &S, limits: &Limits) -> Result<Found, Refusal> {
    if source.size() == 0 {
        return Err(Refusal::empty());
    }
    let reader = OffsetReader::new(source);
    let head = reader.peek_at(0, 16);
    if crate::video::sniff(&head) {
        return crate::video::inspect(source, limits);
    }
    match sniff(&head).ok_or_else(Refusal::unsupported)? {
        Format::Png => png_inspect(reader, limits),
        Format::Jpeg => jpeg_inspect(source, limits),
        Format::Gif => gif_inspect(source, limits),
        Format::Webp => webp_inspect(source, limits),
    }
}

fn check_size(width: u32, height: u32, limits: &Limits) -> Result<(), Refusal> {
    if width == 0 || height == 0 {
        return Err(Refusal::too_big(format!("{width}x{height} 无效尺寸")));
    }
    if width > limits.max_width || height > limits.max_height {
        return Err(Refusal::too_big(format!("{width}x{height} 超过 {}x{}", limits.max_width, limits.max_height)));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(Refusal::too_big(format!("{pixels} 像素超过 {}", limits.max_pixels)));
    }
    Ok(())
}

fn check_frames(frames: u32, limits: &Limits) -> Result<(), Refusal> {
    if frames > limits.max_frames {
        return Err(Refusal::too_big(format!("{frames} 帧超过 {}", limits.max_frames)));
    }
    Ok(())
}

/// Bytes one decoded frame may need (RGBA) plus slack, used as the decoders' allocation cap.
fn frame_budget(limits: &Limits) -> usize {
    (limits.max_pixels.saturating_mul(4).saturating_add(1 << 20)).min(usize::MAX as u64) as usize
}

fn png_inspect<S: ReadAt + ?Sized>(reader: OffsetReader<'_, S>, limits: &Limits) -> Result<Found, Refusal> {
    let bad = |e: png::DecodingError| Refusal::corrupt("png", e);
    let mut decoder = png::Decoder::new_with_limits(reader, png::Limits { bytes: frame_budget(limits) });
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut png = decoder.read_info().map_err(|e| match e {
        png::DecodingError::LimitsExceeded => Refusal::too_big("png 内存需求过大"),
        e => bad(e),
    })?;
    let (width, height, frames) = {
        let info = png.info();
        let frames = info.animation_control.map_or(1, |a| a.num_frames.max(1));
        (info.width, info.height, frames)
    };
    check_size(width, height, limits)?;
    check_frames(frames, limits)?;
    let mut duration_ms = 0u64;
    if frames > 1 {
        let size = png.output_buffer_size().ok_or_else(|| Refusal::too_big("png 内存需求过大"))?;
        let mut buf = vec![0u8; size];
        for _ in 0..frames {
            png.next_frame(&mut buf).map_err(bad)?;
            if let Some(fc) = png.info().frame_control {
                let den = if fc.delay_den == 0 { 100 } else { u64::from(fc.delay_den) };
                duration_ms += u64::from(fc.delay_num) * 1000 / den;
            }
        }
    } else {
        // Row by row: every byte of image data is inflated and CRC-checked without a full buffer.
        while png.next_row().map_err(bad)?.is_some() {}
    }
    // Read up to IEND so a file cut after its image data is still refused.
    png.finish().map_err(bad)?;
    let orientation = png.info().exif_metadata.as_deref().and_then(orientation_of).unwrap_or(1);
    Ok(Found {
        kind: if frames > 1 { Kind::Animation } else { Kind::Image },
        format: "png",
        extension: "png",
        mime: "image/png",
        width,
        height,
        frames,
        duration_ms: (frames > 1).then_some(duration_ms),
        codec: None,
        orientation,
    })
}

fn jpeg_inspect<S: ReadAt + ?Sized>(source: &S, limits: &Limits) -> Result<Found, Refusal> {
    // The marker walk reaches EOI, so a cut file is refused even where the decoder would cope.
    let layout = crate::metadata::jpeg::layout(source)?;
    let (width, height) = (layout.width, layout.height);
    check_size(width, height, limits)?;
    let orientation = layout.exif.as_deref().and_then(orientation_of).unwrap_or(1);
    let mut decoder = jpeg_decoder::Decoder::new(OffsetReader::new(source));
    decoder.set_max_decoding_buffer_size(frame_budget(limits));
    decoder.decode().map_err(|e| Refusal::corrupt("jpeg", e))?;
    Ok(Found {
        kind: Kind::Image,
        format: "jpeg",
        extension: "jpg",
        mime: "image/jpeg",
        width,
        height,
        frames: 1,
        duration_ms: None,
        codec: None,
        orientation,
    })
}

fn gif_inspect<S: ReadAt + ?Sized>(source: &S, limits: &Limits) -> Result<Found, Refusal> {
    let bad = |e: gif::DecodingError| Refusal::corrupt("gif", e);
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    options.check_frame_consistency(true);
    if let Some(limit) = std::num::NonZeroU64::new(frame_budget(limits) as u64) {
        options.set_memory_limit(gif::MemoryLimit::Bytes(limit));
    }
    // First count the frames without decompressing them, so an animation over the
    // frame limit is refused before any frame is decoded.
    let mut counting = options.clone();
    counting.skip_frame_decoding(true);
    let mut gif = counting.read_info(OffsetReader::new(source)).map_err(bad)?;
    check_size(u32::from(gif.width()), u32::from(gif.height()), limits)?;
    let mut counted = 0u32;
    while gif.read_next_frame().map_err(bad)?.is_some() {
        counted += 1;
        check_frames(counted, limits)?;
    }
    let mut gif = options.read_info(OffsetReader::new(source)).map_err(bad)?;
    let (width, height) = (u32::from(gif.width()), u32::from(gif.height()));
    let orientation = 1;
    let mut frames = 0u32;
    let mut duration_ms = 0u64;
    while let Some(frame) = gif.read_next_frame().map_err(bad)? {
        frames += 1;
        duration_ms += u64::from(frame.delay) * 10;
        check_frames(frames, limits)?;
    }
    if frames == 0 {
        return Err(Refusal::corrupt("gif", "no frames"));
    }
    Ok(Found {
        kind: if frames > 1 { Kind::Animation } else { Kind::Image },
        format: "gif",
        extension: "gif",
        mime: "image/gif",
        width,
        height,
        frames,
        duration_ms: (frames > 1).then_some(duration_ms),
        codec: None,
        orientation,
    })
}

fn webp_inspect<S: ReadAt + ?Sized>(source: &S, limits: &Limits) -> Result<Found, Refusal> {
    let bad = |e: image_webp::DecodingError| Refusal::corrupt("webp", e);
    // The RIFF size must match the data and every chunk fit in it: a cut or lying file is
    // refused even if the codec would cope.
    let riff = crate::metadata::webp::check(source)?;
    let reader = OffsetReader::new(&riff);
    let mut webp = image_webp::WebPDecoder::new(reader).map_err(bad)?;
    webp.set_memory_limit(frame_budget(limits));
    let (width, height) = webp.dimensions();
    check_size(width, height, limits)?;
    let animated = webp.is_animated();
    let orientation = webp.exif_metadata().ok().flatten().as_deref().and_then(orientation_of).unwrap_or(1);
    let frames = if animated { webp.num_frames().max(1) } else { 1 };
    check_frames(frames, limits)?;
    let size = webp.output_buffer_size().ok_or_else(|| Refusal::too_big("webp 内存需求过大"))?;
    let mut buf = vec![0u8; size];
    let mut duration_ms = 0u64;
    if animated {
        for _ in 0..frames {
            duration_ms += u64::from(webp.read_frame(&mut buf).map_err(bad)?);
        }
    } else {
        webp.read_image(&mut buf).map_err(bad)?;
    }
    Ok(Found {
        kind: if animated { Kind::Animation } else { Kind::Image },
        format: "webp",
        extension: "webp",
        mime: "image/webp",
        width,
        height,
        frames,
        duration_ms: animated.then_some(duration_ms),
        codec: None,
        orientation,
    })
}

/// Orientation from an EXIF block, with or without the "Exif\0\0" prefix some writers add.
fn orientation_of(exif: &[u8]) -> Option<u16> {
    crate::metadata::exif::orientation(exif.strip_prefix(b"Exif\0\0").unwrap_or(exif))
}

/// What the headers say, read without decoding any pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
    /// EXIF orientation (1..=8; 1 when there is none).
    pub orientation: u16,
}

/// Format, size and orientation from the headers, checked against the size limits: for
/// work on a file `inspect` has already judged (thumbnails), so it is not decoded twice.
/// Videos and unknown bytes are refused as unsupported.
pub fn probe<S: ReadAt + ?Sized>(source: &S, limits: &Limits) -> Result<Probe, Refusal> {
    let reader = OffsetReader::new(source);
    let head = reader.peek_at(0, 16);
    let (format, width, height, exif): (&'static str, u32, u32, Option<Vec<u8>>) =
        match sniff(&head).ok_or_else(Refusal::unsupported)? {
            Format::Png => {
                let mut d = png::Decoder::new_with_limits(reader, png::Limits { bytes: frame_budget(limits) });
                d.set_transformations(png::Transformations::IDENTITY);
                let r = d.read_info().map_err(|e| Refusal::corrupt("png", e))?;
                let info = r.info();
                ("png", info.width, info.height, info.exif_metadata.as_deref().map(<[u8]>::to_vec))
            }
            Format::Jpeg => {
                let h = crate::metadata::jpeg::header(source)?;
                ("jpeg", h.width, h.height, h.exif)
            }
            Format::Gif => {
                let d = gif::DecodeOptions::new().read_info(reader).map_err(|e| Refusal::corrupt("gif", e))?;
                ("gif", u32::from(d.width()), u32::from(d.height()), None)
            }
            Format::Webp => {
                // Thumbnails decode what the probe passes: the same structure checks as inspect.
                let riff = crate::metadata::webp::check(source)?;
                let mut d =
                    image_webp::WebPDecoder::new(OffsetReader::new(&riff)).map_err(|e| Refusal::corrupt("webp", e))?;
                let (w, h) = d.dimensions();
                ("webp", w, h, d.exif_metadata().ok().flatten())
            }
        };
    check_size(width, height, limits)?;
    let orientation = exif.as_deref().and_then(orientation_of).unwrap_or(1);
    Ok(Probe { format, width, height, orientation })
}
