//! Thumbnails: the variant maker's code (the `image` crate: first frame, EXIF
//! orientation, Lanczos3, never enlarged) with PNG output. Runs in the sandbox like
//! every other parse.

use crate::inspect::Limits;
use crate::reader::ReadAt;
use crate::refusal::Refusal;
pub use crate::variant::fit;
use crate::variant::{self, Format};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_never_enlarges() {
        assert_eq!(fit(100, 50, 300), (100, 50));
        assert_eq!(fit(600, 400, 300), (300, 200));
        assert_eq!(fit(60000, 1, 300), (300, 1));
    }
}
