//! Every input the fuzzer once failed on, kept in `guest/tests/regressions/<target>/`
//! and replayed through the same checks ([`super::run`]). A `crash-*` input panicked;
//! a `timeout-*` input ran over 5 seconds (optimised) and must now finish at once.

use std::path::Path;
use std::time::Duration;

#[test]
fn fuzz_regressions_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut replayed = 0;
    for target in super::TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else { continue };
        let mut files: Vec<_> = dir.map(|e| e.expect("directory entry").path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("regression input");
            let started = std::time::Instant::now();
            let run = std::panic::catch_unwind(|| super::run(target, &data));
            assert!(run.is_ok(), "{target} fails again on {}", file.display());
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with("timeout-") {
                let took = started.elapsed();
                assert!(took < Duration::from_secs(2), "{target} takes {took:?} on {}", file.display());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression inputs under {}", root.display());
}

/// The committed seeds of the decoding targets that make new pixels (thumbnails and
/// variants, on the `image` crate) pass their checks; most give an image, not a refusal.
#[test]
fn seeds_make_thumbnails_and_variants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus-seeds");
    for target in ["thumbnail", "variant"] {
        let mut made = 0;
        for entry in std::fs::read_dir(root.join(target)).expect("seeds") {
            let data = std::fs::read(entry.expect("entry").path()).expect("seed");
            super::run(target, &data);
            let made_one = match target {
                "thumbnail" => crate::thumbnail::thumbnail(&data[1..], &super::image_limits(), 64).is_ok(),
                _ => {
                    let request = crate::variant::Request {
                        width: 64,
                        format: crate::variant::Format::Webp,
                        quality: 80,
                        max_cost: u64::MAX,
                    };
                    crate::variant::make(&data[2..], &super::image_limits(), &request).is_ok()
                }
            };
            made += usize::from(made_one);
        }
        assert!(made >= 12, "{target}: only {made} seeds made an image");
    }
}
