//! The JPEG marker structure: every segment's place, the frame size, the end.

use std::io::{BufRead, Read};

use crate::reader::{OffsetReader, ReadAt};
use crate::refusal::Refusal;

/// One marker segment (with a length field), from its 0xFF to its last byte.
#[derive(Debug, Clone)]
pub struct Segment {
    pub marker: u8,
    pub start: u64,
    pub end: u64,
    /// The first bytes of the content: enough to tell APPn kinds apart.
    pub ident: Vec<u8>,
}

/// The walked structure of a JPEG file.
#[derive(Debug, Clone)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub segments: Vec<Segment>,
    /// Offset just after the EOI marker; anything beyond is trailing junk.
    pub end: u64,
    /// The TIFF block of the first Exif APP1 segment.
    pub exif: Option<Vec<u8>>,
}

/// Bytes of segment content kept in [`Segment::ident`].
const IDENT_LEN: usize = 32;

struct Walker<'a, S: ReadAt + ?Sized> {
    reader: OffsetReader<'a, S>,
    pos: u64,
}

impl<S: ReadAt + ?Sized> Walker<'_, S> {
    fn next(&mut self) -> Result<u8, Refusal> {
        let mut b = [0u8; 1];
        self.reader.read_exact(&mut b).map_err(|_| Refusal::corrupt("jpeg", "truncated"))?;
        self.pos += 1;
        Ok(b[0])
    }

    /// Skips to the next 0xFF byte, consumes it and returns its offset. Scans whole
    /// buffered chunks, so entropy-coded data costs no per-byte reads.
    fn next_ff(&mut self) -> Result<u64, Refusal> {
        loop {
            let buf = self.reader.fill_buf().map_err(|_| Refusal::corrupt("jpeg", "truncated"))?;
            if buf.is_empty() {
                return Err(Refusal::corrupt("jpeg", "truncated"));
            }
            match buf.iter().position(|&b| b == 0xFF) {
                Some(i) => {
                    self.reader.consume(i + 1);
                    let at = self.pos + i as u64;
                    self.pos = at + 1;
                    return Ok(at);
                }
                None => {
                    let n = buf.len();
                    self.reader.consume(n);
                    self.pos += n as u64;
                }
            }
        }
    }

    fn take(&mut self, len: usize) -> Result<Vec<u8>, Refusal> {
        let mut seg = vec![0u8; len];
        self.reader.read_exact(&mut seg).map_err(|_| Refusal::corrupt("jpeg", "truncated"))?;
        self.pos += len as u64;
        Ok(seg)
    }
}

/// Walks the marker structure from SOI to EOI, through every scan.
pub fn layout<S: ReadAt + ?Sized>(source: &S) -> Result<Layout, Refusal> {
    walk(source, false)
}

/// Walks only the segments before the first scan: the frame size and the Exif block,
/// without reading the coded image. `end` is then where the first scan starts.
pub fn header<S: ReadAt + ?Sized>(source: &S) -> Result<Layout, Refusal> {
    walk(source, true)
}

fn walk<S: ReadAt + ?Sized>(source: &S, header_only: bool) -> Result<Layout, Refusal> {
    let bad = |why: &str| Refusal::corrupt("jpeg", why);
    let mut w = Walker { reader: OffsetReader::new(source), pos: 0 };
    if w.next()? != 0xFF || w.next()? != 0xD8 {
        return Err(bad("no SOI"));
    }
    let mut size = None;
    let mut exif = None;
    let mut segments = Vec::new();
    let mut in_scan = false;
    loop {
        let (start, marker) = if in_scan {
            // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte), a restart
            // marker, fill bytes, or the next real marker.
            loop {
                let start = w.next_ff()?;
                let mut m = w.next()?;
                while m == 0xFF {
                    m = w.next()?;
                }
                if m == 0x00 || (0xD0..=0xD7).contains(&m) {
                    continue;
                }
                in_scan = false;
                break (start, m);
            }
        } else {
            let start = w.pos;
            if w.next()? != 0xFF {
                return Err(bad("garbage between segments"));
            }
            let mut m = w.next()?;
            while m == 0xFF {
                m = w.next()?;
            }
            (start, m)
        };
        match marker {
            0xD9 => break,
            0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let len = usize::from(w.next()?) << 8 | usize::from(w.next()?);
        if len < 2 {
            return Err(bad("bad segment length"));
        }
        let seg = w.take(len - 2)?;
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            if seg.len() < 5 {
                return Err(bad("short frame header"));
            }
            // One frame per file: the decoder would decode the first, unchecked against the limits.
            if size.is_some() {
                return Err(bad("more than one frame header"));
            }
            let h = u32::from(seg[1]) << 8 | u32::from(seg[2]);
            let wd = u32::from(seg[3]) << 8 | u32::from(seg[4]);
            size = Some((wd, h));
        }
        if marker == 0xE1 && exif.is_none() && seg.starts_with(b"Exif\0\0") {
            exif = Some(seg[6..].to_vec());
        }
        if marker == 0xDA {
            if size.is_none() {
                return Err(bad("scan before frame header"));
            }
            if header_only {
                break;
            }
            in_scan = true;
        }
        segments.push(Segment { marker, start, end: w.pos, ident: seg[..seg.len().min(IDENT_LEN)].to_vec() });
    }
    let (width, height) = size.ok_or_else(|| bad("no frame header"))?;
    Ok(Layout { width, height, segments, end: w.pos, exif })
}

/// Whether display needs this segment: everything but metadata. Kept: JFIF, the ICC
/// profile and Adobe's colour-transform segment; dropped: Exif, XMP, IPTC/Photoshop,
/// multi-picture data, other APPn and comments.
pub fn needed(s: &Segment) -> bool {
    match s.marker {
        0xE0 => s.ident.starts_with(b"JFIF\0"),
        0xE2 => s.ident.starts_with(b"ICC_PROFILE\0"),
        0xEE => s.ident.starts_with(b"Adobe"),
        0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
        _ => true,
    }
}

/// An APP1 segment holding `tiff` as Exif.
pub fn exif_segment(tiff: &[u8]) -> Vec<u8> {
    let len = 2 + 6 + tiff.len();
    let mut out = vec![0xFF, 0xE1, (len >> 8) as u8, len as u8];
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out
}
