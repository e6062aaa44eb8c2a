//! Files rewritten by the policy (`strip-metadata`): the host checks every piece
//! and assembles the file itself, so the guest never writes anything.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use super::bindings::Piece;
use super::PolicyError;

/// Most pieces one rewritten file may have.
pub const MAX_PIECES: usize = 65_536;
/// Most new bytes (headers, a minimal EXIF block) a rewrite may add.
pub const MAX_INSERTED: u64 = 64 * 1024;

/// Size and SHA-256 (lower-case hex) of an assembled file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub size: u64,
    pub digest: String,
}

/// Checks `pieces` against an original of `size` bytes: ranges inside it, few
/// pieces, little new data, and no more of the original kept than it has.
pub fn check(pieces: &[Piece], size: u64) -> Result<u64, PolicyError> {
    let invalid = |why: String| Err(PolicyError::Invalid(format!("strip-metadata: {why}")));
    if pieces.len() > MAX_PIECES {
        return invalid(format!("{} pieces (at most {MAX_PIECES})", pieces.len()));
    }
    let (mut kept, mut inserted) = (0u64, 0u64);
    for p in pieces {
        match p {
            Piece::Keep(span) => {
                if span.offset.checked_add(span.len).is_none_or(|end| end > size) {
                    return invalid(format!("range {}+{} outside the {size}-byte upload", span.offset, span.len));
                }
                kept += span.len;
            }
            Piece::Insert(bytes) => inserted += bytes.len() as u64,
        }
    }
    if inserted > MAX_INSERTED {
        return invalid(format!("{inserted} new bytes (at most {MAX_INSERTED})"));
    }
    // Metadata only goes: no byte of the upload may be kept twice (ranges may come in any
    // order, but never overlap).
    let mut spans: Vec<(u64, u64)> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Keep(span) if span.len > 0 => Some((span.offset, span.offset + span.len)),
            _ => None,
        })
        .collect();
    spans.sort_unstable();
    if let Some(w) = spans.windows(2).find(|w| w[1].0 < w[0].1) {
        return invalid(format!("ranges {}..{} and {}..{} keep the same bytes twice", w[0].0, w[0].1, w[1].0, w[1].1));
    }
    if kept > size {
        return invalid(format!("keeps {kept} bytes of a {size}-byte upload"));
    }
    if kept + inserted == 0 {
        return invalid("an empty file".into());
    }
    Ok(kept + inserted)
}

/// Writes the checked `pieces` of `original` to `out`, hashing as it goes.
pub fn assemble(original: &File, pieces: &[Piece], out: &File) -> std::io::Result<Assembled> {
    let mut writer = BufWriter::with_capacity(256 * 1024, out);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    for p in pieces {
        match p {
            Piece::Keep(span) => {
                let mut at = span.offset;
                let end = span.offset + span.len;
                while at < end {
                    let want = ((end - at) as usize).min(buf.len());
                    original.read_exact_at(&mut buf[..want], at)?;
                    hasher.update(&buf[..want]);
                    writer.write_all(&buf[..want])?;
                    at += want as u64;
                }
                size += span.len;
            }
            Piece::Insert(bytes) => {
                hasher.update(bytes);
                writer.write_all(bytes)?;
                size += bytes.len() as u64;
            }
        }
    }
    writer.flush()?;
    drop(writer);
    out.sync_data()?;
    Ok(Assembled { size, digest: hex::encode(hasher.finalize()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::bindings::Span;

    #[test]
    fn overlapping_ranges_are_refused_in_any_order() {
        let keep = |offset, len| Piece::Keep(Span { offset, len });
        assert!(check(&[keep(0, 80), keep(0, 20)], 100).is_err());
        assert!(check(&[keep(50, 50), keep(0, 51)], 100).is_err());
        assert!(check(&[keep(50, 50), keep(0, 50)], 100).is_ok());
    }

    #[test]
    fn ranges_and_sizes_are_checked() {
        let keep = |offset, len| Piece::Keep(Span { offset, len });
        assert_eq!(check(&[keep(0, 10), Piece::Insert(vec![1; 4]), keep(20, 80)], 100).unwrap(), 94);
        assert!(check(&[keep(95, 10)], 100).is_err());
        assert!(check(&[keep(u64::MAX, 2)], 100).is_err());
        assert!(check(&[Piece::Insert(vec![0; MAX_INSERTED as usize + 1])], 10_000_000).is_err());
        assert!(check(&[keep(0, 100), keep(0, 100)], 100).is_err());
        assert!(check(&[], 100).is_err());
    }

    #[test]
    fn assembles_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::write(&src, b"0123456789").unwrap();
        let dst = dir.path().join("dst");
        let out = File::create(&dst).unwrap();
        let pieces = [Piece::Keep(Span { offset: 2, len: 3 }), Piece::Insert(b"ab".to_vec())];
        let done = assemble(&File::open(&src).unwrap(), &pieces, &out).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"234ab");
        assert_eq!(done.size, 5);
        assert_eq!(done.digest, hex::encode(Sha256::digest(b"234ab")));
    }
}
