//! The one EXIF fact display needs: the Orientation tag (0x0112) of IFD0.

/// Orientation (1..=8) from a TIFF-structured EXIF block, if it has a valid one.
pub fn orientation(tiff: &[u8]) -> Option<u16> {
    let le = match tiff.get(0..4)? {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(o..o.checked_add(2)?)?.try_into().ok()?;
        Some(if le { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(o..o.checked_add(4)?)?.try_into().ok()?;
        Some(if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let ifd = u32_at(4)? as usize;
    let entries = usize::from(u16_at(ifd)?);
    for i in 0..entries {
        let at = ifd.checked_add(2 + 12 * i)?;
        if u16_at(at)? == 0x0112 {
            // SHORT, one value, stored in the first two bytes of the value field.
            if u16_at(at + 2)? != 3 {
                return None;
            }
            let v = u16_at(at + 8)?;
            return (1..=8).contains(&v).then_some(v);
        }
    }
    None
}

/// A TIFF block holding only the Orientation tag (big-endian, 26 bytes).
pub fn minimal(orientation: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(26);
    out.extend_from_slice(b"MM\0*");
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&0x0112u16.to_be_bytes());
    out.extend_from_slice(&3u16.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&orientation.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&0u32.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_block_reads_back() {
        for o in 1..=8 {
            assert_eq!(orientation(&minimal(o)), Some(o));
        }
    }

    #[test]
    fn little_endian_and_garbage() {
        let mut le = b"II*\0".to_vec();
        le.extend_from_slice(&8u32.to_le_bytes());
        le.extend_from_slice(&1u16.to_le_bytes());
        le.extend_from_slice(&0x0112u16.to_le_bytes());
        le.extend_from_slice(&3u16.to_le_bytes());
        le.extend_from_slice(&1u32.to_le_bytes());
        le.extend_from_slice(&6u16.to_le_bytes());
        le.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        assert_eq!(orientation(&le), Some(6));
        assert_eq!(orientation(b"MM\0*\xff\xff\xff\xff"), None);
        assert_eq!(orientation(b""), None);
        let mut bad = minimal(9);
        assert_eq!(orientation(&bad), None);
        bad.truncate(12);
        assert_eq!(orientation(&bad), None);
    }
}
