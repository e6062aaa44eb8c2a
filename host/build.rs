//! Builds the default policy component (`guest/`) and the test policy
//! (`guest/test-policy/`) for wasm32-wasip2 into OUT_DIR; the host embeds the
//! default one with `include_bytes!`, the tests load the other.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("workspace root").to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    for watched in
        ["guest/src", "guest/Cargo.toml", "guest/test-policy/src", "guest/test-policy/Cargo.toml", "wit", "Cargo.lock"]
    {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    // The test policy is built beside the default one; tests find it through this variable.
    println!("cargo:rustc-env=IMGBED_TEST_POLICY_WASM={}", out_dir.join("imgbed_test_policy.wasm").display());

    // A target dir of its own: the outer cargo holds the lock on its own.
    let target_dir = out_dir.join("policy-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "-p",
            "imgbed-policy",
            "-p",
            "imgbed-test-policy",
            "--target-dir",
        ])
        .arg(&target_dir);
    // Flags meant for the host build must not leak into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PROFILE_RELEASE_LTO",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the policy component");
    if !status.success() {
        panic!("building the policy component failed; is the wasm32-wasip2 target installed? (rustup target add wasm32-wasip2)");
    }
    let built = target_dir.join("wasm32-wasip2/release");
    copy(&built.join("imgbed_policy.wasm"), &out_dir.join("imgbed_policy.wasm"));
    copy(&built.join("imgbed_test_policy.wasm"), &out_dir.join("imgbed_test_policy.wasm"));
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}
