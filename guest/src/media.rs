//! What the policy learns about an upload and the operator's limits on it: the
//! types shared by the image decoders (`inspect`), the video walkers (`video`) and
//! the thumbnailer.

/// Content limits, from the host's settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_width: u32,
    pub max_height: u32,
    pub max_pixels: u64,
    pub max_frames: u32,
    /// Video uploads accepted at all (`video`).
    pub video: bool,
    /// Video containers accepted (`video_formats`, e.g. "mp4,mov,webm").
    pub video_formats: Formats,
    pub video_max_width: u32,
    pub video_max_height: u32,
    pub video_max_duration_ms: u64,
}

impl Limits {
    /// Limits from the host's settings (`max_width`, `max_height`, `max_pixels`,
    /// `max_frames`, `video`, `video_formats`, `video_max_width`, `video_max_height`,
    /// `video_max_duration_s`), defaults for missing or unparsable ones.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Self {
        fn number<T: std::str::FromStr>(v: Option<String>, default: T) -> T {
            v.and_then(|v| v.trim().parse().ok()).unwrap_or(default)
        }
        let d = Limits::default();
        Limits {
            max_width: number(get("max_width"), d.max_width),
            max_height: number(get("max_height"), d.max_height),
            max_pixels: number(get("max_pixels"), d.max_pixels),
            max_frames: number(get("max_frames"), d.max_frames),
            video: number(get("video"), d.video),
            video_formats: get("video_formats").and_then(|v| Formats::parse(&v).ok()).unwrap_or(d.video_formats),
            video_max_width: number(get("video_max_width"), d.video_max_width),
            video_max_height: number(get("video_max_height"), d.video_max_height),
            video_max_duration_ms: number::<u64>(get("video_max_duration_s"), d.video_max_duration_ms / 1000)
                .saturating_mul(1000),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_width: 10_000,
            max_height: 10_000,
            max_pixels: 40_000_000,
            max_frames: 900,
            video: false,
            video_formats: Formats::ALL,
            video_max_width: 7680,
            video_max_height: 4320,
            video_max_duration_ms: 3_600_000,
        }
    }
}

/// Still image, animation or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Animation,
    Video,
}

/// What decoding found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: Kind,
    pub format: &'static str,
    pub extension: &'static str,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub duration_ms: Option<u64>,
    /// Video codec, e.g. "h264" (None for images).
    pub codec: Option<String>,
    /// EXIF orientation (1..=8; 1 when there is none).
    pub orientation: u16,
}

/// Which containers the operator allows (`video_formats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub mp4: bool,
    pub mov: bool,
    pub webm: bool,
}

impl Formats {
    /// All three.
    pub const ALL: Formats = Formats { mp4: true, mov: true, webm: true };

    /// Parses a comma-separated list such as "mp4,webm"; unknown names are an error.
    pub fn parse(list: &str) -> Result<Formats, String> {
        let mut f = Formats { mp4: false, mov: false, webm: false };
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "mp4" => f.mp4 = true,
                "mov" => f.mov = true,
                "webm" => f.webm = true,
                other => return Err(format!("unknown video format {other:?}, expected mp4, mov or webm")),
            }
        }
        Ok(f)
    }
}
