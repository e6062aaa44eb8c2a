//! ISO base media files (mp4, mov): a walk over the box tree.

use super::{be, bytes, millis, Container, Track, MAX_NODES};
use crate::reader::ReadAt;
use crate::refusal::Refusal;

/// Deepest box nesting followed (moov/trak/mdia/minf/stbl/stsd is 6).
const MAX_DEPTH: u32 = 8;

/// Brands of still-image formats built on the same box structure (HEIF, AVIF): not video.
const IMAGE_BRANDS: &[&[u8; 4]] = &[b"avif", b"avis", b"heic", b"heix", b"hevc", b"mif1", b"msf1"];

/// Brands of the mp4 family.
const MP4_BRANDS: &[&[u8; 4]] = &[
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41", b"mp42", b"avc1",
    b"dash", b"M4V ", b"mmp4", b"MSNV", b"f4v ",
];

/// One box: its type and where its header, content and end are.
#[derive(Debug, Clone, Copy)]
struct Header {
    kind: [u8; 4],
    /// First byte of the content (after size, type and any large size).
    body: u64,
    end: u64,
}

fn corrupt(why: impl std::fmt::Display) -> Refusal {
    Refusal::corrupt_video("mp4", why)
}

/// Reads the box header at `at`; the box must end by `limit`.
fn header<S: ReadAt + ?Sized>(source: &S, at: u64, limit: u64) -> Result<Header, Refusal> {
    if limit - at < 8 {
        return Err(corrupt(format!("{} stray bytes at offset {at}", limit - at)));
    }
    let h = bytes(source, at, 8, "mp4")?;
    let kind: [u8; 4] = h[4..8].try_into().expect("4 bytes");
    let (body, size) = match be(&h[0..4]) {
        0 => (at + 8, limit - at),
        1 => {
            let large = bytes(source, at + 8, 8, "mp4")?;
            (at + 16, be(&large))
        }
        n => (at + 8, n),
    };
    if size < body - at {
        return Err(corrupt(format!("box {} smaller than its header", show(&kind))));
    }
    let end = at.checked_add(size).ok_or_else(|| corrupt("box size overflows"))?;
    if end > limit {
        return Err(corrupt(format!(
            "box {} at offset {at} declares {size} bytes, past the end of its container or file (truncated?)",
            show(&kind)
        )));
    }
    Ok(Header { kind, body, end })
}

/// A box type for messages: printable ASCII or hex.
fn show(kind: &[u8; 4]) -> String {
    if kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8_lossy(kind).into_owned()
    } else {
        format!("0x{:08x}", u32::from_be_bytes(*kind))
    }
}

/// The children of the box content `[from, to)`.
fn children<S: ReadAt + ?Sized>(source: &S, from: u64, to: u64, count: &mut u32) -> Result<Vec<Header>, Refusal> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        *count += 1;
        if *count > MAX_NODES {
            return Err(corrupt("too many boxes"));
        }
        let h = header(source, at, to)?;
        at = h.end;
        out.push(h);
    }
    Ok(out)
}

/// The content of a small box, at most `cap` bytes of it.
fn content<S: ReadAt + ?Sized>(source: &S, h: &Header, cap: u32) -> Result<Vec<u8>, Refusal> {
    let len = (h.end - h.body).min(u64::from(cap)) as u32;
    bytes(source, h.body, len, "mp4")
}

/// What one track says about itself.
#[derive(Default, Debug)]
struct TrackFacts {
    handler: [u8; 4],
    width: u32,
    height: u32,
    entry_width: u32,
    entry_height: u32,
    codec: Option<[u8; 4]>,
    timescale: u64,
    duration: u64,
}

/// Container format and first video track of an ISO base media file.
pub fn inspect<S: ReadAt + ?Sized>(source: &S) -> Result<(Container, Track), Refusal> {
    let size = source.size();
    let mut count = 0;
    let top = children(source, 0, size, &mut count)?;
    let ftyp = top.first().filter(|h| &h.kind == b"ftyp").ok_or_else(|| corrupt("no ftyp box first"))?;
    let brands = content(source, ftyp, 4096)?;
    if brands.len() < 8 {
        return Err(corrupt("short ftyp box"));
    }
    let major: [u8; 4] = brands[0..4].try_into().expect("4 bytes");
    let compatible: Vec<[u8; 4]> =
        brands[8..].chunks_exact(4).map(|c| c.try_into().expect("4 bytes")).chain([major]).collect();
    let has = |set: &[&[u8; 4]]| compatible.iter().any(|b| set.contains(&b));
    if has(IMAGE_BRANDS) && !has(MP4_BRANDS) {
        return Err(Refusal::unsupported());
    }
    let container = if &major == b"qt  " {
        Container::Mov
    } else if has(MP4_BRANDS) {
        Container::Mp4
    } else if compatible.contains(b"qt  ") {
        Container::Mov
    } else {
        return Err(Refusal::unsupported_video(format!("未知的 mp4 品牌 {}", show(&major))));
    };
    let fail = |why: &str| Refusal::corrupt_video(container.name(), why);

    let moovs: Vec<&Header> = top.iter().filter(|h| &h.kind == b"moov").collect();
    let moov = match moovs.as_slice() {
        [one] => *one,
        [] => return Err(fail("no moov box (truncated?)")),
        _ => return Err(fail("more than one moov box")),
    };
    if !top.iter().any(|h| &h.kind == b"mdat" || &h.kind == b"moof") {
        return Err(fail("no media data (mdat)"));
    }

    let mut movie_scale = 0;
    let mut movie_duration = 0;
    let mut tracks = Vec::new();
    for h in children(source, moov.body, moov.end, &mut count)? {
        match &h.kind {
            b"mvhd" => {
                let c = content(source, &h, 32)?;
                (movie_scale, movie_duration) = full_box_times(&c).ok_or_else(|| fail("short mvhd box"))?;
            }
            b"trak" => tracks.push(track(source, &h, &mut count, 1)?),
            _ => {}
        }
    }
    let video = tracks
        .iter()
        .find(|t| &t.handler == b"vide")
        .ok_or_else(|| Refusal::unsupported_video("没有视频轨道".to_string()))?;
    let codec = video.codec.ok_or_else(|| fail("video track without a sample description"))?;
    let (width, height) = if video.width > 0 && video.height > 0 {
        (video.width, video.height)
    } else {
        (video.entry_width, video.entry_height)
    };
    let duration_ms = match millis(movie_duration, movie_scale) {
        Some(ms) if ms > 0 => Some(ms),
        _ => millis(video.duration, video.timescale).filter(|&ms| ms > 0),
    };
    Ok((container, Track { width, height, codec: codec_name(&codec), duration_ms }))
}

/// (timescale, duration) of an mvhd or mdhd box (version 0 or 1).
fn full_box_times(c: &[u8]) -> Option<(u64, u64)> {
    match c.first()? {
        0 if c.len() >= 20 => Some((be(&c[12..16]), be(&c[16..20]))),
        1 if c.len() >= 32 => Some((be(&c[20..24]), be(&c[24..32]))),
        _ => None,
    }
}

/// Walks a track's boxes for handler, sizes, timing and the first sample entry.
fn track<S: ReadAt + ?Sized>(source: &S, trak: &Header, count: &mut u32, depth: u32) -> Result<TrackFacts, Refusal> {
    let mut facts = TrackFacts::default();
    walk_track(source, trak, count, depth, &mut facts)?;
    Ok(facts)
}

fn walk_track<S: ReadAt + ?Sized>(
    source: &S,
    parent: &Header,
    count: &mut u32,
    depth: u32,
    facts: &mut TrackFacts,
) -> Result<(), Refusal> {
    if depth > MAX_DEPTH {
        return Err(corrupt("boxes nested too deep"));
    }
    for h in children(source, parent.body, parent.end, count)? {
        match &h.kind {
            b"mdia" | b"minf" | b"stbl" => walk_track(source, &h, count, depth + 1, facts)?,
            b"tkhd" => {
                let c = content(source, &h, 96)?;
                let at = match c.first() {
                    Some(0) => 76,
                    Some(1) => 88,
                    _ => return Err(corrupt("unknown tkhd version")),
                };
                if c.len() < at + 8 {
                    return Err(corrupt("short tkhd box"));
                }
                // 16.16 fixed point display size.
                facts.width = (be(&c[at..at + 4]) >> 16) as u32;
                facts.height = (be(&c[at + 4..at + 8]) >> 16) as u32;
            }
            b"mdhd" => {
                let c = content(source, &h, 32)?;
                (facts.timescale, facts.duration) = full_box_times(&c).ok_or_else(|| corrupt("short mdhd box"))?;
            }
            // The media handler sits in mdia; QuickTime also puts a data handler in minf.
            b"hdlr" if &parent.kind == b"mdia" => {
                let c = content(source, &h, 12)?;
                if c.len() < 12 {
                    return Err(corrupt("short hdlr box"));
                }
                facts.handler = c[8..12].try_into().expect("4 bytes");
            }
            b"stsd" => {
                let c = content(source, &h, 8)?;
                if c.len() < 8 || be(&c[4..8]) == 0 {
                    return Err(corrupt("empty sample description"));
                }
                let entry = header(source, h.body + 8, h.end)?;
                facts.codec = Some(entry.kind);
                // Visual sample entries carry the coded size after 24 bytes of fields.
                let e = content(source, &entry, 28)?;
                if e.len() >= 28 {
                    facts.entry_width = be(&e[24..26]) as u32;
                    facts.entry_height = be(&e[26..28]) as u32;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Short name of a sample entry type.
fn codec_name(kind: &[u8; 4]) -> String {
    match kind {
        b"avc1" | b"avc3" => "h264".into(),
        b"hvc1" | b"hev1" => "hevc".into(),
        b"av01" => "av1".into(),
        b"vp08" => "vp8".into(),
        b"vp09" => "vp9".into(),
        b"mp4v" => "mpeg4".into(),
        b"apcn" | b"apch" | b"apcs" | b"apco" | b"ap4h" => "prores".into(),
        other => show(other).trim().to_ascii_lowercase(),
    }
}
