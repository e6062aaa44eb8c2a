//! WebP: keep the image chunks and the ICC profile, rewrite EXIF to the
//! orientation only, drop XMP and unknown chunks, fix the RIFF and VP8X headers.

use super::{exif, Pieces};
use crate::reader::{Prefix, ReadAt};
use crate::refusal::Refusal;

const KEPT: &[&[u8; 4]] = &[b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"];
/// VP8X flag bits for EXIF and XMP metadata.
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;
const MAX_EXIF: u32 = 1024 * 1024;

struct Chunk {
    kind: [u8; 4],
    start: u64,
    /// End including the padding byte.
    end: u64,
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + data.len());
    out.extend_from_slice(kind);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// The RIFF end and the top-level chunks, each inside the RIFF data, which is inside the file.
fn chunks<S: ReadAt + ?Sized>(source: &S) -> Result<(u64, Vec<Chunk>), Refusal> {
    let bad = |why: &str| Refusal::corrupt("webp", why);
    let head = source.read_at(0, 12);
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WEBP" {
        return Err(bad("no RIFF header"));
    }
    let riff_end = 8 + u64::from(u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")));
    if riff_end > source.size() {
        return Err(bad("truncated"));
    }
    let mut chunks = Vec::new();
    let mut at = 12u64;
    while at + 8 <= riff_end {
        let h = source.read_at(at, 8);
        if h.len() < 8 {
            return Err(bad("truncated"));
        }
        let len = u64::from(u32::from_le_bytes(h[4..8].try_into().expect("4 bytes")));
        let end = at + 8 + len + (len & 1);
        if end > riff_end {
            return Err(bad("chunk past the end of the file"));
        }
        chunks.push(Chunk { kind: h[0..4].try_into().expect("4 bytes"), start: at, end });
        at = end;
    }
    Ok((riff_end, chunks))
}

/// The structure checks `inspect` makes before decoding: at least one chunk, every chunk
/// inside the RIFF data, and every animation frame's lossy image a VP8 key frame as large
/// as the frame says. (The decoder trusts the frame's size for an ALPH + VP8 frame, and
/// decodes whatever follows ALPH as VP8: either panics.)
/// Returns the RIFF data alone, which is all the decoder may read: it walks an extended
/// file's chunks past the RIFF end otherwise.
pub(crate) fn check<S: ReadAt + ?Sized>(source: &S) -> Result<Prefix<'_, S>, Refusal> {
    let bad = |why: &str| Refusal::corrupt("webp", why);
    let u24 = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    let (riff_end, chunks) = chunks(source)?;
    if chunks.is_empty() {
        return Err(bad("no chunks"));
    }
    for anmf in chunks.iter().filter(|c| &c.kind == b"ANMF") {
        let frame = source.read_at(anmf.start + 8, 16);
        if frame.len() < 16 {
            return Err(bad("short ANMF chunk"));
        }
        let size = (u24(&frame[6..9]) + 1, u24(&frame[9..12]) + 1);
        let mut at = anmf.start + 24;
        let mut after_alpha = false;
        while at + 8 <= anmf.end {
            let h = source.read_at(at, 18);
            let len = u64::from(u32::from_le_bytes(h[4..8].try_into().expect("4 bytes")));
            let end = at + 8 + len + (len & 1);
            if end > anmf.end {
                return Err(bad("frame chunk past the end of its frame"));
            }
            let kind = &h[0..4];
            if after_alpha && kind != b"VP8 " {
                return Err(bad("alpha without a lossy image"));
            }
            if kind == b"VP8 " {
                // A key frame: 3-byte tag (bit 0 clear), start code, 14-bit width and height.
                let dim = |o: usize| u32::from(u16::from_le_bytes([h[o], h[o + 1]]) & 0x3FFF);
                if len < 10 || h.len() < 18 || h[8] & 1 != 0 || (dim(14), dim(16)) != size {
                    return Err(bad("animation frame size differs from its image"));
                }
            }
            after_alpha = kind == b"ALPH";
            at = end;
        }
        if after_alpha {
            return Err(bad("alpha without a lossy image"));
        }
    }
    Ok(Prefix { source, len: riff_end })
}

pub(super) fn strip<S: ReadAt + ?Sized>(source: &S) -> Result<Option<Vec<super::Piece>>, Refusal> {
    let bad = |why: &str| Refusal::corrupt("webp", why);
    let size = source.size();
    let (riff_end, chunks) = chunks(source)?;
    let Some(first) = chunks.first() else { return Err(bad("no chunks")) };

    let mut out = Pieces::default();
    if &first.kind != b"VP8X" {
        // Simple format: one image chunk; metadata cannot be there, junk after it can.
        let body_end = first.end;
        if body_end == size && chunks.len() == 1 {
            return Ok(None);
        }
        let mut header = b"RIFF".to_vec();
        header.extend_from_slice(&((body_end - 8) as u32).to_le_bytes());
        header.extend_from_slice(b"WEBP");
        out.insert(header);
        out.keep(12, body_end);
        return Ok(out.finish());
    }

    let vp8x = source.read_at(first.start + 8, 10);
    if vp8x.len() < 10 {
        return Err(bad("short VP8X chunk"));
    }
    let mut body = Pieces::default();
    let mut body_len = 0u64;
    let mut has_exif = false;
    let mut dropped = riff_end < size;
    for c in &chunks[1..] {
        if KEPT.contains(&&c.kind) {
            body.keep(c.start, c.end);
            body_len += c.end - c.start;
            continue;
        }
        dropped = true;
        if &c.kind == b"EXIF" && !has_exif {
            let data = source.read_at(c.start + 8, (c.end - c.start - 8).min(u64::from(MAX_EXIF)) as u32);
            let tiff = data.strip_prefix(b"Exif\0\0").unwrap_or(&data);
            if let Some(o) = exif::orientation(tiff).filter(|&o| o != 1) {
                let new = chunk(b"EXIF", &exif::minimal(o));
                body_len += new.len() as u64;
                body.insert(new);
                has_exif = true;
            }
        }
    }
    if !dropped {
        return Ok(None);
    }
    let mut flags = vp8x[0] & !(FLAG_EXIF | FLAG_XMP);
    if has_exif {
        flags |= FLAG_EXIF;
    }
    let mut new_vp8x = vp8x.clone();
    new_vp8x[0] = flags;
    let vp8x_chunk = chunk(b"VP8X", &new_vp8x);
    let mut header = b"RIFF".to_vec();
    header.extend_from_slice(&((4 + vp8x_chunk.len() as u64 + body_len) as u32).to_le_bytes());
    header.extend_from_slice(b"WEBP");
    header.extend_from_slice(&vp8x_chunk);
    out.insert(header);
    for p in body.list {
        match p {
            super::Piece::Keep { offset, len } => out.keep(offset, offset + len),
            super::Piece::Insert(b) => out.insert(b),
        }
    }
    Ok(out.finish())
}
