//! The invariants of every parser and rewriter, checked on any input. The fuzz
//! targets (`guest/fuzz`, feature `check`) call [`run`]; the unit tests replay the
//! inputs the fuzzer once failed on (`guest/tests/regressions/`) and add property
//! tests over generated files. Every function here panics when an invariant breaks.

#[cfg(test)]
mod generate;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod regressions;
#[cfg(test)]
mod videos;

use crate::inspect::{self, Found, Kind, Limits};
use crate::metadata::{self, Piece};
use crate::refusal::Refusal;

/// The fuzz targets, by name; each is one [`run`] case.
pub const TARGETS: &[&str] = &["png", "jpeg", "gif", "webp", "mp4", "webm", "strip", "naming", "thumbnail", "variant"];

/// Image limits small enough that no input can spend seconds decoding.
pub fn image_limits() -> Limits {
    Limits { max_width: 2048, max_height: 2048, max_pixels: 1 << 22, max_frames: 64, ..Limits::default() }
}

/// The default video limits, video on.
pub fn video_limits() -> Limits {
    Limits { video: true, ..Limits::default() }
}

/// Checks `data` against the invariants of `target` (one of [`TARGETS`]).
pub fn run(target: &str, data: &[u8]) {
    let starts = |magic: &[u8]| data.starts_with(magic);
    match target {
        "png" if starts(b"\x89PNG\r\n\x1a\n") => image(data),
        "jpeg" if starts(&[0xFF, 0xD8, 0xFF]) => image(data),
        "gif" if starts(b"GIF8") => image(data),
        "webp" if starts(b"RIFF") && data.get(8..12) == Some(b"WEBP") => image(data),
        "mp4" if data.get(4..8) == Some(b"ftyp") => video(data),
        "webm" if starts(&crate::video::webm::EBML_MAGIC) => video(data),
        "strip" => strip(data),
        "naming" => naming(data),
        "thumbnail" => thumbnail(data),
        "variant" => variant(data),
        "png" | "jpeg" | "gif" | "webp" | "mp4" | "webm" => {}
        other => panic!("unknown fuzz target {other:?}"),
    }
}

/// The refusals `inspect` may give: the catalogue's, with their statuses.
const INSPECT_REFUSALS: &[(u16, &str)] = &[
    (400, "empty_upload"),
    (415, "unsupported_type"),
    (415, "unsupported_video"),
    (422, "corrupt_image"),
    (422, "image_too_large"),
    (422, "corrupt_video"),
    (422, "video_too_large"),
];

/// A refusal from the catalogue, with a message.
pub fn refusal(r: &Refusal, allowed: &[(u16, &str)]) {
    assert!(allowed.contains(&(r.status, r.code)), "refusal outside the catalogue: {r:?}");
    assert!(!r.message.is_empty(), "refusal without a message: {r:?}");
}

/// `inspect` either accepts `data` with a description inside `limits` or refuses it
/// with a catalogued code: never a panic, never a success with nonsense.
pub fn inspect(data: &[u8], limits: &Limits) -> Result<Found, Refusal> {
    let result = inspect::inspect(data, limits);
    match &result {
        Ok(found) => accepted(found, limits),
        Err(r) => refusal(r, INSPECT_REFUSALS),
    }
    result
}

/// What an accepted file's description must satisfy.
pub fn accepted(f: &Found, l: &Limits) {
    assert!(f.width > 0 && f.height > 0, "accepted with no size: {f:?}");
    let (ext, mime) = match f.format {
        "png" => ("png", "image/png"),
        "jpeg" => ("jpg", "image/jpeg"),
        "gif" => ("gif", "image/gif"),
        "webp" => ("webp", "image/webp"),
        "mp4" => ("mp4", "video/mp4"),
        "mov" => ("mov", "video/quicktime"),
        "webm" => ("webm", "video/webm"),
        other => panic!("unknown format {other:?}"),
    };
    assert_eq!((f.extension, f.mime), (ext, mime), "{f:?}");
    if f.kind == Kind::Video {
        assert!(l.video, "a video accepted while videos are off: {f:?}");
        assert!(matches!(f.format, "mp4" | "mov" | "webm"), "{f:?}");
        assert!(f.width <= l.video_max_width && f.height <= l.video_max_height, "{f:?}");
        assert!(f.duration_ms.is_none_or(|ms| ms <= l.video_max_duration_ms), "{f:?}");
        let codec = f.codec.as_deref().expect("a video names its codec");
        assert!(!codec.is_empty() && codec.len() <= 32, "{f:?}");
        return;
    }
    assert!(f.width <= l.max_width && f.height <= l.max_height, "{f:?}");
    assert!(u64::from(f.width) * u64::from(f.height) <= l.max_pixels, "{f:?}");
    assert!((1..=l.max_frames).contains(&f.frames), "{f:?}");
    assert!((1..=8).contains(&f.orientation), "{f:?}");
    assert!(f.codec.is_none(), "{f:?}");
    match f.kind {
        Kind::Image => assert!(f.frames == 1 && f.duration_ms.is_none(), "{f:?}"),
        _ => assert!(f.duration_ms.is_some(), "{f:?}"),
    }
}

/// An image target: `inspect` is sane, and `probe` (the thumbnailer's header read)
/// agrees with it on every file `inspect` accepts.
fn image(data: &[u8]) {
    let limits = image_limits();
    let Ok(found) = inspect(data, &limits) else { return };
    let probe = inspect::probe(data, &limits).unwrap_or_else(|r| panic!("probe refused an accepted file: {r:?}"));
    assert_eq!(
        (probe.format, probe.width, probe.height, probe.orientation),
        (found.format, found.width, found.height, found.orientation),
        "probe and inspect disagree"
    );
}

/// A video target: `inspect` is sane; an accepted file is a video.
fn video(data: &[u8]) {
    if let Ok(found) = inspect(data, &video_limits()) {
        assert_eq!(found.kind, Kind::Video);
    }
}

/// Most new bytes a strip may insert: rewritten headers and one minimal EXIF block.
const MAX_INSERTED: usize = 128;

/// The pieces the host assembles: kept ranges inside the input, in order, no byte kept
/// twice, and only a few small inserts.
pub fn pieces(size: u64, pieces: &[Piece]) {
    let (mut next, mut inserted, mut inserts) = (0u64, 0usize, 0);
    for p in pieces {
        match p {
            Piece::Keep { offset, len } => {
                assert!(*len > 0, "empty kept range: {pieces:?}");
                assert!(*offset >= next, "range kept twice or out of order: {pieces:?}");
                let end = offset.checked_add(*len).expect("range end overflows");
                assert!(end <= size, "kept range past the input ({size} bytes): {pieces:?}");
                next = end;
            }
            Piece::Insert(bytes) => {
                assert!(!bytes.is_empty(), "empty insert: {pieces:?}");
                inserted += bytes.len();
                inserts += 1;
            }
        }
    }
    assert!(inserted <= MAX_INSERTED && inserts <= 3, "{inserted} bytes inserted in {inserts} pieces");
}

/// Metadata stripping: sane pieces; a file `inspect` accepts is stripped (not refused)
/// to one it accepts with the same description, and stripping that again changes nothing.
fn strip(data: &[u8]) {
    let limits = image_limits();
    let before = inspect(data, &limits);
    let stripped = match metadata::strip(data) {
        Ok(p) => p,
        Err(r) => {
            refusal(&r, &[(422, "corrupt_image")]);
            assert!(before.is_err(), "strip refused a file inspect accepts: {r:?}");
            return;
        }
    };
    let Some(list) = stripped else { return };
    pieces(data.len() as u64, &list);
    let out = metadata::assemble(data, &list);
    assert_eq!(out.len() as u64, metadata::output_len(&list));
    let Ok(found) = before else { return };
    let after = inspect(&out, &limits).unwrap_or_else(|r| panic!("the stripped file is refused: {r:?}"));
    assert_eq!(after, found, "stripping changed the description");
    match metadata::strip(&out[..]) {
        Ok(None) => {}
        Ok(Some(again)) => assert!(metadata::assemble(&out[..], &again) == out, "stripping twice changes the file"),
        Err(r) => panic!("the stripped file cannot be stripped again: {r:?}"),
    }
}

/// Naming: input bytes are (rule, attempt, time, extension length, file name and digest).
fn naming(data: &[u8]) {
    use crate::naming::{name, py_time, RULES};
    let Some((&head, rest)) = data.split_first() else { return };
    let rule = RULES.get(usize::from(head % 4)).copied().unwrap_or("other");
    let attempt = u32::from(head >> 2);
    let (time, rest) = match rest.split_first_chunk::<8>() {
        Some((t, rest)) => (f64::from_le_bytes(*t), rest),
        None => (1.7e9, rest),
    };
    let text = String::from_utf8_lossy(rest);
    let (filename, digest) = text.split_once('\n').unwrap_or((&text, "0123456789abcdef0123456789abcdef"));
    let extension = "png";
    if time.is_finite() {
        assert_eq!(py_time(time).parse::<f64>().ok(), Some(time), "py_time does not round-trip");
    }
    let named = name(rule, filename, time, attempt, digest, extension);
    let Ok(n) = named else {
        let r = named.unwrap_err();
        assert_eq!((rule, r.status, r.code), ("other", 500, "unknown_rule"));
        return;
    };
    assert_eq!(name(rule, filename, time, attempt, digest, extension).ok().as_ref(), Some(&n), "not deterministic");
    let stem = n.strip_suffix(".png").expect("the extension ends the name");
    assert!(stem.len() <= 128, "{n:?}");
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    assert!(stem.chars().all(safe), "unsafe character in {n:?}");
    if rule != "content" || digest.chars().filter(char::is_ascii_hexdigit).count() >= 32 {
        assert!(!stem.is_empty() && !stem.starts_with('-'), "{n:?}");
    }
    let retry = name(rule, filename, time, attempt + 1, digest, extension).expect("same rule");
    assert_ne!(retry, n, "a retry gets the same name");
}

/// Thumbnails: a PNG no wider than asked that `inspect` accepts, or a catalogued refusal.
fn thumbnail(data: &[u8]) {
    let Some((&width, data)) = data.split_first() else { return };
    let max_width = u32::from(width) + 1;
    let limits = image_limits();
    match crate::thumbnail::thumbnail(data, &limits, max_width) {
        Ok(png) => {
            let found = inspect(&png, &limits).unwrap_or_else(|r| panic!("the thumbnail is refused: {r:?}"));
            assert_eq!((found.format, found.frames), ("png", 1));
            assert!(found.width <= max_width, "{} wider than {max_width}", found.width);
        }
        Err(r) => refusal(&r, &[(501, "unsupported"), (422, "corrupt_image"), (422, "image_too_large")]),
    }
}

/// Variants: the asked format, no wider than asked, one frame, that `inspect` accepts; or
/// a catalogued refusal. The first byte is the width (+1), the second the format (mod 3)
/// and the cost limit (× 16384, so small limits are refused as too costly).
fn variant(data: &[u8]) {
    use crate::variant::{make, Format, Request};
    let [w, f, data @ ..] = data else { return };
    let format = [Format::Jpeg, Format::Png, Format::Webp][usize::from(*f % 3)];
    let request = Request { width: u32::from(*w) + 1, format, quality: 80, max_cost: u64::from(*f) << 14 };
    let limits = image_limits();
    match make(data, &limits, &request) {
        Ok(made) => {
            let found = inspect(&made.bytes, &limits).unwrap_or_else(|r| panic!("the variant is refused: {r:?}"));
            assert_eq!((found.format, found.frames), (format.name(), 1));
            assert_eq!((found.width, found.height), (made.width, made.height));
            assert!(made.width <= request.width, "{} wider than {}", made.width, request.width);
        }
        Err(r) => refusal(
            &r,
            &[
                (415, "unsupported_type"),
                (422, "corrupt_image"),
                (422, "image_too_large"),
                (422, "variant_too_costly"),
                (422, "variant_failed"),
            ],
        ),
    }
}
