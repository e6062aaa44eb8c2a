//! The web UI in a real browser and the uploader configs against a real server: runs the
//! Python suite in `tests/browser/` (pytest, Playwright driving Debian's `/usr/bin/chromium`
//! headless, axe-core) from the test virtualenv that `scripts/test.sh` sets up, with the
//! binary under test and the built policy components.

use std::process::Command;

#[test]
fn web_ui_in_chromium_and_uploader_configs() {
    let venv = std::env::var("IMGBED_TEST_VENV").expect(
        "IMGBED_TEST_VENV is not set: run the browser tests with scripts/test.sh, which installs Playwright and axe-core",
    );
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let shots = std::env::var("IMGBED_SCREENSHOT_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_TARGET_TMPDIR"), "/screenshots").to_string());
    let status = Command::new(format!("{venv}/bin/python"))
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "tests/browser"])
        .current_dir(root)
        .env("IMGBED_BIN", env!("CARGO_BIN_EXE_imgbed"))
        .env("IMGBED_POLICIES_DIR", env!("IMGBED_POLICIES_DIR"))
        .env("IMGBED_SCREENSHOT_DIR", &shots)
        .status()
        .expect("run pytest from the test virtualenv");
    assert!(status.success(), "the browser tests failed (screenshots in {shots})");
}
