//! PNG: keep the chunks display needs, rewrite eXIf to the orientation only.

use super::{exif, Pieces};
use crate::reader::ReadAt;
use crate::refusal::Refusal;

/// Chunks kept: critical ones, colour and transparency, physical size, animation.
const KEPT: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV",
    b"cLLI", b"bKGD", b"pHYs", b"acTL", b"fcTL", b"fdAT",
];

/// Largest eXIf chunk read for its orientation.
const MAX_EXIF: u32 = 1024 * 1024;

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + data.len());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out
}

pub(super) fn strip<S: ReadAt + ?Sized>(source: &S) -> Result<Option<Vec<super::Piece>>, Refusal> {
    let bad = |why: &str| Refusal::corrupt("png", why);
    let size = source.size();
    let mut out = Pieces::default();
    out.keep(0, 8);
    let mut at = 8u64;
    let mut wrote_exif = false;
    loop {
        let head = source.read_at(at, 8);
        if head.len() < 8 {
            return Err(bad("truncated"));
        }
        let len = u64::from(u32::from_be_bytes(head[0..4].try_into().expect("4 bytes")));
        let kind: [u8; 4] = head[4..8].try_into().expect("4 bytes");
        let end = at + 12 + len;
        if len > 0x7FFF_FFFF || end > size {
            return Err(bad("chunk past the end of the file"));
        }
        if KEPT.contains(&&kind) {
            out.keep(at, end);
        } else {
            out.drop_range();
            if &kind == b"eXIf" && !wrote_exif {
                let data = source.read_at(at + 8, len.min(u64::from(MAX_EXIF)) as u32);
                if let Some(o) = exif::orientation(&data).filter(|&o| o != 1) {
                    out.insert(chunk(b"eXIf", &exif::minimal(o)));
                    wrote_exif = true;
                }
            }
        }
        at = end;
        if &kind == b"IEND" {
            break;
        }
    }
    if at < size {
        out.drop_range();
    }
    Ok(out.finish())
}
