//! Video containers through the whole policy path (`inspect` dispatching to the
//! container walkers): cut and flipped files never panic and are refused with a
//! catalogued video refusal.

use crate::inspect::Kind;

const MP4: &[u8] = include_bytes!("../../../tests/fixtures/tiny.mp4");
const MOV: &[u8] = include_bytes!("../../../tests/fixtures/tiny.mov");
const WEBM: &[u8] = include_bytes!("../../../tests/fixtures/tiny.webm");

fn limits() -> crate::inspect::Limits {
    super::video_limits()
}

#[test]
fn video_off_refuses_video_as_unsupported() {
    let l = crate::inspect::Limits { video: false, ..limits() };
    assert_eq!(crate::inspect::inspect(MP4, &l).unwrap_err().status, 415);
}

#[test]
fn every_cut_is_refused() {
    for bytes in [MP4, MOV, WEBM] {
        for len in 0..bytes.len() {
            let r = crate::inspect::inspect(&bytes[..len], &limits());
            assert!(r.is_err(), "a {len}-byte prefix of {} bytes was accepted", bytes.len());
        }
    }
}

/// Each one-byte change is either accepted as a sane video of the same family within
/// the limits (`check::inspect` asserts the description), or refused with a video
/// refusal from the catalogue.
#[test]
fn flipped_bytes_never_panic() {
    for (bytes, family) in [(MP4, ["mp4", "mov"]), (MOV, ["mp4", "mov"]), (WEBM, ["webm", "webm"])] {
        let (mut accepted, mut refused) = (0, 0);
        for at in 0..bytes.len().min(2100) {
            for value in [0x00, 0xFF, 0x7F] {
                let mut copy = bytes.to_vec();
                copy[at] = value;
                match super::inspect(&copy[..], &limits()) {
                    Ok(found) => {
                        assert_eq!(found.kind, Kind::Video, "byte {at} = {value:#x}");
                        assert!(family.contains(&found.format), "byte {at} = {value:#x}: {found:?}");
                        accepted += 1;
                    }
                    Err(r) => {
                        let video = ["corrupt_video", "unsupported_video", "video_too_large", "unsupported_type"];
                        assert!(video.contains(&r.code), "byte {at} = {value:#x}: {r:?}");
                        assert!(matches!(r.status, 415 | 422), "byte {at} = {value:#x}: {r:?}");
                        refused += 1;
                    }
                }
            }
        }
        assert!(accepted > 0 && refused > 0, "{family:?}: {accepted} accepted, {refused} refused");
    }
}
