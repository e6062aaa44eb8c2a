//! Signing keys and signatures made with the real `imgbed policy keygen` and `sign`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A key pair `imgbed policy keygen` wrote.
pub struct Key {
    /// The private key file.
    pub private: PathBuf,
    /// The public key, as `policy.trusted_keys` takes it.
    pub public: String,
}

fn run(args: &[&std::ffi::OsStr]) -> Value {
    let out = Command::new(super::binary()).args(args).output().unwrap();
    assert!(out.status.success(), "imgbed {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `imgbed policy keygen --out DIR --name NAME`.
pub fn keygen(dir: &Path, name: &str) -> Key {
    let v = run(&[
        "policy".as_ref(),
        "keygen".as_ref(),
        "--out".as_ref(),
        dir.as_os_str(),
        "--name".as_ref(),
        name.as_ref(),
    ]);
    Key { private: v["private_key"].as_str().unwrap().into(), public: v["public_key"].as_str().unwrap().into() }
}

/// `imgbed policy sign --key KEY FILE`: writes FILE.sig; returns the signature.
pub fn sign(key: &Key, file: &Path) -> String {
    let v = run(&["policy".as_ref(), "sign".as_ref(), "--key".as_ref(), key.private.as_os_str(), file.as_os_str()]);
    let written = PathBuf::from(v["signature"].as_str().unwrap());
    assert_eq!(written, sig_path(file));
    std::fs::read_to_string(written).unwrap().trim().to_string()
}

/// The signature `key` makes of `bytes` (signed through a temp file; nothing is left beside).
pub fn signature_of(key: &Key, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("component.wasm");
    std::fs::write(&file, bytes).unwrap();
    sign(key, &file)
}

/// Where the detached signature of `file` lives.
pub fn sig_path(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sig", file.display()))
}
