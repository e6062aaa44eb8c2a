//! Metadata stripping: the stored file keeps what display needs and nothing
//! else. Kept: pixel data byte for byte, colour information (ICC profile, sRGB,
//! gamma, Adobe's transform flag), animation control, and the EXIF Orientation
//! tag (rewritten as a minimal EXIF block). Dropped: the rest of EXIF (GPS,
//! camera, serial numbers), XMP, IPTC, comments, text chunks, embedded
//! previews, unknown chunks and bytes after the end of the image.
//!
//! The result is a list of pieces — ranges of the original and a few new
//! bytes — that the host assembles, so no image is copied through the sandbox.

pub mod exif;
pub mod jpeg;
mod png;
pub(crate) mod webp;

use crate::reader::ReadAt;
use crate::refusal::Refusal;

/// A piece of the rewritten file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// `len` bytes of the original from `offset`.
    Keep { offset: u64, len: u64 },
    /// New bytes (rewritten headers, the minimal EXIF block).
    Insert(Vec<u8>),
}

/// Pieces in order, merging adjacent kept ranges.
#[derive(Debug, Default)]
struct Pieces {
    list: Vec<Piece>,
    /// Whether anything of the original was left out or rewritten.
    changed: bool,
}

impl Pieces {
    fn keep(&mut self, offset: u64, end: u64) {
        if end <= offset {
            return;
        }
        if let Some(Piece::Keep { offset: o, len }) = self.list.last_mut() {
            if *o + *len == offset {
                *len += end - offset;
                return;
            }
        }
        self.list.push(Piece::Keep { offset, len: end - offset });
    }

    fn insert(&mut self, bytes: Vec<u8>) {
        self.changed = true;
        self.list.push(Piece::Insert(bytes));
    }

    fn drop_range(&mut self) {
        self.changed = true;
    }

    fn finish(self) -> Option<Vec<Piece>> {
        self.changed.then_some(self.list)
    }
}

/// The pieces of `source` without its metadata, or None when it has none to remove.
/// The format is sniffed: JPEG, PNG and WebP are stripped, anything else is left for
/// `inspect` to judge. Only the structure is walked here; `inspect` decodes the result.
pub fn strip<S: ReadAt + ?Sized>(source: &S) -> Result<Option<Vec<Piece>>, Refusal> {
    let head = source.read_at(0, 12);
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        strip_jpeg(source)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        png::strip(source)
    } else if head.len() == 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        webp::strip(source)
    } else {
        Ok(None)
    }
}

fn strip_jpeg<S: ReadAt + ?Sized>(source: &S) -> Result<Option<Vec<Piece>>, Refusal> {
    let layout = jpeg::layout(source)?;
    let orientation = layout.exif.as_deref().and_then(exif::orientation).filter(|&o| o != 1);
    let mut out = Pieces::default();
    let mut cursor = 0;
    let mut wrote_exif = false;
    for s in layout.segments.iter().filter(|s| !jpeg::needed(s)) {
        out.keep(cursor, s.start);
        out.drop_range();
        if let (Some(o), false, true) = (orientation, wrote_exif, s.marker == 0xE1 && s.ident.starts_with(b"Exif\0\0"))
        {
            out.insert(jpeg::exif_segment(&exif::minimal(o)));
            wrote_exif = true;
        }
        cursor = s.end;
    }
    out.keep(cursor, layout.end);
    if layout.end < source.size() {
        out.drop_range();
    }
    Ok(out.finish())
}

/// Length of the file the pieces describe.
pub fn output_len(pieces: &[Piece]) -> u64 {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Keep { len, .. } => *len,
            Piece::Insert(b) => b.len() as u64,
        })
        .sum()
}

/// Assembles the pieces over `source` (tests and tools; the host does this itself).
pub fn assemble<S: ReadAt + ?Sized>(source: &S, pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Keep { offset, len } => {
                let mut at = *offset;
                while at < offset + len {
                    let chunk = source.read_at(at, (offset + len - at).min(1 << 20) as u32);
                    if chunk.is_empty() {
                        break;
                    }
                    at += chunk.len() as u64;
                    out.extend_from_slice(&chunk);
                }
            }
            Piece::Insert(b) => out.extend_from_slice(b),
        }
    }
    out
}
