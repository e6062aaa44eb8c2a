//! Decoding for variants and thumbnails: the `image` crate's decoders over the
//! [`ReadAt`] seam, after the same header checks `inspect` runs.

use image::{DynamicImage, ImageDecoder};

use crate::inspect;
use crate::media::Limits;
use crate::reader::{OffsetReader, ReadAt};
use crate::refusal::Refusal;

/// A decoded first frame, turned upright, with the source's ICC profile.
pub struct Decoded {
    pub image: DynamicImage,
    pub icc: Option<Vec<u8>>,
    /// The source's format ("png", "jpeg", "gif", "webp").
    pub format: &'static str,
}

fn bad(format: &str, e: impl std::fmt::Display) -> Refusal {
    Refusal::corrupt(format, e)
}

/// The decoders' limits: the size limits, and memory for one RGBA frame plus slack.
fn image_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(16 << 20));
    l
}

/// Decodes the first frame of `source` (checked by the same header read as `inspect`),
/// refusing it when it costs more than `max_cost` (see [`super::check_cost`]).
/// Videos and unknown bytes are refused as unsupported (415).
pub fn decode<S: ReadAt + ?Sized>(source: &S, limits: &Limits, max_cost: u64) -> Result<Decoded, Refusal> {
    let probe = inspect::probe(source, limits)?;
    super::check_cost(probe.width, probe.height, max_cost)?;
    let format = probe.format;
    let (image, icc) = match format {
        "png" => {
            let d = image::codecs::png::PngDecoder::with_limits(OffsetReader::new(source), image_limits(limits))
                .map_err(|e| bad(format, e))?;
            read(d, format, limits)?
        }
        "jpeg" => read(
            image::codecs::jpeg::JpegDecoder::new(OffsetReader::new(source)).map_err(|e| bad(format, e))?,
            format,
            limits,
        )?,
        "gif" => read(
            image::codecs::gif::GifDecoder::new(OffsetReader::new(source)).map_err(|e| bad(format, e))?,
            format,
            limits,
        )?,
        _ => {
            let riff = crate::metadata::webp::check(source)?;
            let d = image::codecs::webp::WebPDecoder::new(OffsetReader::new(&riff)).map_err(|e| bad(format, e))?;
            read(d, format, limits)?
        }
    };
    let mut image = image;
    if let Some(o) = u8::try_from(probe.orientation).ok().and_then(image::metadata::Orientation::from_exif) {
        image.apply_orientation(o);
    }
    Ok(Decoded { image, icc, format })
}

fn read(mut d: impl ImageDecoder, format: &str, limits: &Limits) -> Result<(DynamicImage, Option<Vec<u8>>), Refusal> {
    d.set_limits(image_limits(limits)).map_err(|_| Refusal::too_big(format!("{format} 内存需求过大")))?;
    let icc = d.icc_profile().ok().flatten().filter(|p| !p.is_empty());
    let image = DynamicImage::from_decoder(d).map_err(|e| match e {
        image::ImageError::Limits(_) => Refusal::too_big(format!("{format} 内存需求过大")),
        e => bad(format, e),
    })?;
    Ok((image, icc))
}
