//! Builds the policy components for wasm32-wasip2 into OUT_DIR: the default
//! policy (`guest/default`, embedded by the host with `include_bytes!`), the example
//! policies (`guest/examples/`) and the test components (`tests/components/`: one that
//! misbehaves on request, one built against contract 1.0).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("workspace root").to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    // Relative to this package, so a target dir shared by two checkouts (CI's cache) watches
    // the checkout being built, not whichever one ran the script last.
    for watched in ["../guest", "../wit", "../tests/components", "../Cargo.lock", "../.cargo/config.toml"] {
        println!("cargo:rerun-if-changed={watched}");
    }

    // The test and example policies are built beside the default one; tests find them here.
    println!("cargo:rustc-env=IMGBED_POLICIES_DIR={}", out_dir.display());

    let target = out_dir.join("policy-target");
    let components = [
        ("imgbed-policy-default", "imgbed_policy_default.wasm"),
        ("imgbed-policy-strict", "imgbed_policy_strict.wasm"),
        ("imgbed-policy-members", "imgbed_policy_members.wasm"),
        ("imgbed-test-policy", "imgbed_test_policy.wasm"),
        ("imgbed-policy-v1-test", "imgbed_policy_v1_test.wasm"),
    ];
    let packages: Vec<&str> = components.iter().map(|(p, _)| *p).collect();
    build_wasm(&root, &target, &packages);
    for (_, file) in components {
        copy(&target.join("wasm32-wasip2/release").join(file), &out_dir.join(file));
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
    // The wasm flags (SIMD) come from the workspace's `.cargo/config.toml`.
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
