//! WebM (a Matroska profile): a walk over the EBML element tree.

use super::{be, millis, Track, MAX_NODES};
use crate::reader::ReadAt;
use crate::refusal::Refusal;

/// The first four bytes of every EBML file.
pub const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

const EBML: u64 = 0x1A45_DFA3;
const DOC_TYPE: u64 = 0x4282;
const SEGMENT: u64 = 0x1853_8067;
const SEEK_HEAD: u64 = 0x114D_9B74;
const INFO: u64 = 0x1549_A966;
const TRACKS: u64 = 0x1654_AE6B;
const CLUSTER: u64 = 0x1F43_B675;
const CUES: u64 = 0x1C53_BB6B;
const CHAPTERS: u64 = 0x1043_A770;
const TAGS: u64 = 0x1254_C367;
const ATTACHMENTS: u64 = 0x1941_A469;
const TIMESTAMP_SCALE: u64 = 0x2A_D7B1;
const DURATION: u64 = 0x4489;
const TRACK_ENTRY: u64 = 0xAE;
const TRACK_TYPE: u64 = 0x83;
const CODEC_ID: u64 = 0x86;
const VIDEO: u64 = 0xE0;
const PIXEL_WIDTH: u64 = 0xB0;
const PIXEL_HEIGHT: u64 = 0xBA;

/// Elements that belong to the segment: they end an unknown-size cluster.
const SEGMENT_LEVEL: &[u64] = &[SEEK_HEAD, INFO, TRACKS, CLUSTER, CUES, CHAPTERS, TAGS, ATTACHMENTS];

/// Largest header element read whole (Info, Tracks).
const MAX_HEADER_ELEMENT: u64 = 1024 * 1024;

fn corrupt(why: impl std::fmt::Display) -> Refusal {
    Refusal::corrupt_video("webm", why)
}

/// One element: id, where its content starts, and its end (None: unknown size).
#[derive(Debug, Clone, Copy)]
struct Element {
    id: u64,
    body: u64,
    end: Option<u64>,
}

/// Length of a variable-size integer from its first byte.
fn vint_len(first: u8) -> Result<usize, Refusal> {
    if first == 0 {
        return Err(corrupt("invalid variable-size integer"));
    }
    Ok(first.leading_zeros() as usize + 1)
}

/// Reads the element header at `at`; a known-size element must end by `limit`.
fn element<S: ReadAt + ?Sized>(source: &S, at: u64, limit: u64) -> Result<Element, Refusal> {
    let h = source.read_at(at, 12);
    let truncated = || corrupt(format!("element header at offset {at} cut short (truncated?)"));
    let id_len = vint_len(*h.first().ok_or_else(truncated)?)?;
    if id_len > 4 {
        return Err(corrupt("element id longer than 4 bytes"));
    }
    let size_first = *h.get(id_len).ok_or_else(truncated)?;
    let size_len = vint_len(size_first)?;
    let raw = h.get(id_len..id_len + size_len).ok_or_else(truncated)?;
    let id = be(&h[..id_len]);
    let value = (u64::from(raw[0]) & (0xFF >> size_len)) << (8 * (size_len - 1)) | be(&raw[1..]);
    let unknown = value == (1u64 << (7 * size_len)) - 1;
    let body = at + (id_len + size_len) as u64;
    if body > limit {
        return Err(truncated());
    }
    let end = if unknown {
        None
    } else {
        let end = body.checked_add(value).filter(|&e| e <= limit).ok_or_else(|| {
            corrupt(format!(
                "element 0x{id:X} at offset {at} declares {value} bytes, past the end of its parent or file (truncated?)"
            ))
        })?;
        Some(end)
    };
    Ok(Element { id, body, end })
}

/// The whole content of a known-size element of at most [`MAX_HEADER_ELEMENT`] bytes.
fn content<S: ReadAt + ?Sized>(source: &S, e: &Element) -> Result<Vec<u8>, Refusal> {
    let end = e.end.ok_or_else(|| corrupt(format!("element 0x{:X} of unknown size", e.id)))?;
    if end - e.body > MAX_HEADER_ELEMENT {
        return Err(corrupt(format!("element 0x{:X} too large", e.id)));
    }
    super::bytes(source, e.body, (end - e.body) as u32, "webm")
}

/// Children of an in-memory element body, as (id, content).
fn parse_children(body: &[u8]) -> Result<Vec<(u64, &[u8])>, Refusal> {
    let mut out = Vec::new();
    let mut at = 0u64;
    let len = body.len() as u64;
    while at < len {
        let e = element(body, at, len)?;
        let end = e.end.ok_or_else(|| corrupt("unknown size inside a header element"))?;
        out.push((e.id, &body[e.body as usize..end as usize]));
        at = end;
    }
    Ok(out)
}

fn float(b: &[u8]) -> Option<f64> {
    match b.len() {
        4 => Some(f64::from(f32::from_be_bytes(b.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

/// The first video track of a WebM file.
pub fn inspect<S: ReadAt + ?Sized>(source: &S) -> Result<Track, Refusal> {
    let size = source.size();
    let header = element(source, 0, size)?;
    if header.id != EBML {
        return Err(corrupt("no EBML header"));
    }
    let doc_type = parse_children(&content(source, &header)?)?
        .into_iter()
        .find(|(id, _)| *id == DOC_TYPE)
        .map(|(_, v)| String::from_utf8_lossy(v).trim_end_matches('\0').to_string())
        .unwrap_or_default();
    if doc_type != "webm" {
        return Err(Refusal::unsupported_video(format!("文档类型 {doc_type:?}, 仅支持 webm")));
    }
    let at = header.end.expect("content() checked the size");
    let segment = element(source, at, size)?;
    if segment.id != SEGMENT {
        return Err(corrupt("no segment after the EBML header"));
    }
    let segment_end = segment.end.unwrap_or(size);

    let mut count = 0u32;
    let mut scale = 1_000_000u64;
    let mut duration = None;
    let mut seen_info = false;
    let mut video = None;
    let mut clusters = 0u32;
    let mut pos = segment.body;
    while pos < segment_end {
        count += 1;
        if count > MAX_NODES {
            return Err(corrupt("too many elements"));
        }
        let e = element(source, pos, segment_end)?;
        match e.id {
            INFO => {
                seen_info = true;
                for (id, v) in parse_children(&content(source, &e)?)? {
                    match id {
                        TIMESTAMP_SCALE if !v.is_empty() && v.len() <= 8 => scale = be(v).max(1),
                        DURATION => duration = float(v),
                        _ => {}
                    }
                }
            }
            TRACKS if video.is_none() => video = first_video(&content(source, &e)?)?,
            CLUSTER => clusters += 1,
            _ => {}
        }
        pos = match e.end {
            Some(end) => end,
            None if e.id == CLUSTER => skip_open_cluster(source, e.body, segment_end, &mut count)?,
            None => return Err(corrupt(format!("element 0x{:X} of unknown size", e.id))),
        };
    }
    if !seen_info {
        return Err(corrupt("no Info element"));
    }
    let (width, height, codec) = video.ok_or_else(|| Refusal::unsupported_video("没有视频轨道".to_string()))?;
    if clusters == 0 {
        return Err(corrupt("no media data (no Cluster)"));
    }
    // Duration counts timestamp ticks of `scale` nanoseconds.
    let duration_ms = duration
        .filter(|d| d.is_finite() && *d >= 0.0)
        .and_then(|d| millis((d * scale as f64 / 1000.0).min(u64::MAX as f64 / 2.0) as u64, 1_000_000));
    Ok(Track { width, height, codec, duration_ms })
}

/// Walks the children of a cluster written without a size (live recordings) to its end:
/// the next segment-level element or the end of the segment.
fn skip_open_cluster<S: ReadAt + ?Sized>(source: &S, from: u64, limit: u64, count: &mut u32) -> Result<u64, Refusal> {
    let mut at = from;
    while at < limit {
        *count += 1;
        if *count > MAX_NODES {
            return Err(corrupt("too many elements"));
        }
        let e = element(source, at, limit)?;
        if SEGMENT_LEVEL.contains(&e.id) {
            return Ok(at);
        }
        at = e.end.ok_or_else(|| corrupt("element of unknown size inside a cluster"))?;
    }
    Ok(at)
}

/// (width, height, codec) of the first video track in a Tracks element.
fn first_video(tracks: &[u8]) -> Result<Option<(u32, u32, String)>, Refusal> {
    for (id, entry) in parse_children(tracks)? {
        if id != TRACK_ENTRY {
            continue;
        }
        let mut kind = 0;
        let mut codec = String::new();
        let (mut width, mut height) = (0u32, 0u32);
        for (id, v) in parse_children(entry)? {
            match id {
                TRACK_TYPE => kind = be(v),
                CODEC_ID => codec = String::from_utf8_lossy(v).trim_end_matches('\0').to_string(),
                VIDEO => {
                    for (id, v) in parse_children(v)? {
                        match id {
                            PIXEL_WIDTH if v.len() <= 4 => width = be(v) as u32,
                            PIXEL_HEIGHT if v.len() <= 4 => height = be(v) as u32,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if kind == 1 {
            return Ok(Some((width, height, codec_name(&codec))));
        }
    }
    Ok(None)
}

/// "V_VP9" → "vp9"; anything odd is reduced to a short safe token.
fn codec_name(id: &str) -> String {
    let short = id.strip_prefix("V_").unwrap_or(id);
    let clean: String =
        short.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')).take(32).collect();
    if clean.is_empty() {
        "unknown".into()
    } else {
        clean.to_ascii_lowercase()
    }
}
