//! Every input the fuzzer once failed on, kept in `guest/tests/regressions/<target>/`
//! and replayed through the same checks ([`super::run`]).

use std::path::Path;

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
            let run = std::panic::catch_unwind(|| super::run(target, &data));
            assert!(run.is_ok(), "{target} fails again on {}", file.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression inputs under {}", root.display());
}
