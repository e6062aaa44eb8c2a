//! Video containers: ISO base media files (mp4, mov) and WebM.
//!
//! Only the structure is read — box and element headers, and the few small
//! boxes that describe the tracks — through offset reads. The media data is
//! never pulled into the sandbox, so a 100 MiB upload costs a few kilobytes of
//! reads. Every size is checked against its parent and the file, so a cut or
//! lying file is refused instead of trusted.

pub mod mp4;
pub mod webm;

pub use crate::media::Formats;
use crate::media::{Found, Kind, Limits};
use crate::reader::ReadAt;
use crate::refusal::Refusal;

/// Most boxes or elements walked in one file; real files have a few hundred.
const MAX_NODES: u32 = 200_000;

/// What a container parser found about the first video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub width: u32,
    pub height: u32,
    /// Short codec name, e.g. "h264", "vp9".
    pub codec: String,
    pub duration_ms: Option<u64>,
}

/// The container families this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Mp4,
    Mov,
    Webm,
}

impl Container {
    /// Name as used in settings and answers.
    pub fn name(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Webm => "webm",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Container::Mp4 => "video/mp4",
            Container::Mov => "video/quicktime",
            Container::Webm => "video/webm",
        }
    }
}

/// Whether the first bytes look like a video container this module parses.
pub fn sniff(head: &[u8]) -> bool {
    (head.len() >= 8 && &head[4..8] == b"ftyp") || head.starts_with(&webm::EBML_MAGIC)
}

/// Inspects a video upload against `limits`.
pub fn inspect<S: ReadAt + ?Sized>(source: &S, limits: &Limits) -> Result<Found, Refusal> {
    if !limits.video {
        return Err(Refusal::video_disabled());
    }
    let head = source.read_at(0, 12);
    let (container, track) = if head.starts_with(&webm::EBML_MAGIC) {
        (Container::Webm, webm::inspect(source)?)
    } else {
        mp4::inspect(source)?
    };
    if !allows(limits.video_formats, container) {
        return Err(Refusal::unsupported_video(format!("{} 未启用", container.name())));
    }
    if track.width == 0 || track.height == 0 {
        return Err(Refusal::corrupt_video(container.name(), "video track without dimensions"));
    }
    if track.width > limits.video_max_width || track.height > limits.video_max_height {
        return Err(Refusal::video_too_large(format!(
            "{}x{} 超过 {}x{}",
            track.width, track.height, limits.video_max_width, limits.video_max_height
        )));
    }
    if let Some(ms) = track.duration_ms {
        if ms > limits.video_max_duration_ms {
            return Err(Refusal::video_too_large(format!(
                "时长 {} 秒超过 {} 秒",
                ms.div_ceil(1000),
                limits.video_max_duration_ms / 1000
            )));
        }
    }
    Ok(Found {
        kind: Kind::Video,
        format: container.name(),
        extension: container.name(),
        mime: container.mime(),
        width: track.width,
        height: track.height,
        frames: 0,
        duration_ms: track.duration_ms,
        codec: Some(track.codec),
        orientation: 1,
    })
}

/// Whether the operator allows container `c`.
fn allows(formats: Formats, c: Container) -> bool {
    match c {
        Container::Mp4 => formats.mp4,
        Container::Mov => formats.mov,
        Container::Webm => formats.webm,
    }
}

/// Exactly `len` bytes at `offset`, or a "truncated" refusal.
fn bytes<S: ReadAt + ?Sized>(source: &S, offset: u64, len: u32, format: &str) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity(len as usize);
    while out.len() < len as usize {
        let chunk = source.read_at(offset + out.len() as u64, len - out.len() as u32);
        if chunk.is_empty() {
            return Err(Refusal::corrupt_video(format, "truncated"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x))
}

/// Milliseconds of `units` at `scale` units per second, None when unknown.
fn millis(units: u64, scale: u64) -> Option<u64> {
    if scale == 0 || units == u64::MAX || units == u64::from(u32::MAX) {
        return None;
    }
    Some((u128::from(units) * 1000 / u128::from(scale)).min(u128::from(u64::MAX)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MP4: &[u8] = include_bytes!("../../../tests/fixtures/tiny.mp4");
    const MOV: &[u8] = include_bytes!("../../../tests/fixtures/tiny.mov");
    const WEBM: &[u8] = include_bytes!("../../../tests/fixtures/tiny.webm");

    fn limits() -> Limits {
        Limits { video: true, ..Limits::default() }
    }

    #[test]
    fn fixtures_are_described() {
        for (bytes, format, codec) in [(MP4, "mp4", "h264"), (MOV, "mov", "h264"), (WEBM, "webm", "vp9")] {
            let found = inspect(bytes, &limits()).unwrap_or_else(|r| panic!("{format}: {r:?}"));
            assert_eq!((found.kind, found.format, found.width, found.height), (Kind::Video, format, 64, 48));
            assert_eq!(found.codec.as_deref(), Some(codec), "{format}");
            let ms = found.duration_ms.unwrap_or_else(|| panic!("{format}: no duration"));
            assert!((900..=1100).contains(&ms), "{format}: {ms} ms");
        }
    }

    #[test]
    fn huge_declared_box_is_refused() {
        let mut copy = MP4.to_vec();
        let mdat = copy.windows(4).position(|w| w == b"mdat").unwrap() - 4;
        // 32-bit size near 4 GiB, then a 64-bit size of 2^62.
        copy[mdat..mdat + 4].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        let r = inspect(&copy[..], &limits()).unwrap_err();
        assert_eq!((r.status, r.code), (422, "corrupt_video"));
        let mut large = MP4[..mdat].to_vec();
        large.extend_from_slice(&1u32.to_be_bytes());
        large.extend_from_slice(b"mdat");
        large.extend_from_slice(&(1u64 << 62).to_be_bytes());
        large.extend_from_slice(&[0; 64]);
        assert_eq!(inspect(&large[..], &limits()).unwrap_err().code, "corrupt_video");
    }

    #[test]
    fn limits_are_enforced() {
        let mut l = limits();
        l.video_max_duration_ms = 500;
        assert_eq!(inspect(MP4, &l).unwrap_err().code, "video_too_large");
        let mut l = limits();
        l.video_max_width = 32;
        assert_eq!(inspect(WEBM, &l).unwrap_err().code, "video_too_large");
        let mut l = limits();
        l.video_formats = Formats::parse("mp4").unwrap();
        assert_eq!(inspect(WEBM, &l).unwrap_err().code, "unsupported_video");
        assert_eq!(inspect(MOV, &l).unwrap_err().code, "unsupported_video");
        assert!(inspect(MP4, &l).is_ok());
        assert!(Formats::parse("mp4,avi").is_err());
    }

    #[test]
    fn image_brands_are_not_video() {
        let mut avif = MP4.to_vec();
        avif[8..12].copy_from_slice(b"avif");
        for c in avif[16..32].chunks_mut(4) {
            c.copy_from_slice(b"mif1");
        }
        assert_eq!(inspect(&avif[..], &limits()).unwrap_err().code, "unsupported_type");
    }
}
