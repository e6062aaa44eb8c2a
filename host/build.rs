//! Builds the policy components for wasm32-wasip2 into OUT_DIR: the default
//! policy (`guest/`, embedded by the host with `include_bytes!`), the test policy
//! (`guest/test-policy/`) and the example policies (`guest/examples/`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("workspace root").to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    // Relative to this package, so a target dir shared by two checkouts (CI's cache) watches
    // the checkout being built, not whichever one ran the script last.
    for watched in ["../guest", "../wit", "../Cargo.lock"] {
        println!("cargo:rerun-if-changed={watched}");
    }

    // The test and example policies are built beside the default one; tests find them here.
    println!("cargo:rustc-env=IMGBED_POLICIES_DIR={}", out_dir.display());

    // The default and test policies; then the examples, which use the default policy's
    // crate as a library without its component exports: features unify within one cargo
    // run, and the library's cdylib would overwrite the real one, so they get their own.
    let policies = out_dir.join("policy-target");
    build_wasm(&root, &policies, &["imgbed-policy", "imgbed-test-policy"]);
    let examples = out_dir.join("policy-examples-target");
    build_wasm(&root, &examples, &["imgbed-policy-strict", "imgbed-policy-members"]);
    let release = |dir: &Path, file: &str| dir.join("wasm32-wasip2/release").join(file);
    for (dir, file) in [
        (&policies, "imgbed_policy.wasm"),
        (&policies, "imgbed_test_policy.wasm"),
        (&examples, "imgbed_policy_strict.wasm"),
        (&examples, "imgbed_policy_members.wasm"),
    ] {
        copy(&release(dir, file), &out_dir.join(file));
    }
}

/// `cargo build --release --target wasm32-wasip2` of `packages` into `target_dir`
/// (a target dir of its own: the outer cargo holds the lock on its own).
fn build_wasm(root: &Path, target_dir: &Path, packages: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    // Flags meant for the host build must not leak into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the policy components");
    if !status.success() {
        panic!(
            "building {packages:?} failed; is the wasm32-wasip2 target installed? (rustup target add wasm32-wasip2)"
        );
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}
