//! How a policy component arrives (with the detached signature that came with it) and
//! how the active one is kept across restarts (`active.wasm` and `active.wasm.sig`).

use std::path::Path;

use super::{LoadedPolicy, PolicyError, BUILTIN_POLICY};
use crate::signing;
use crate::signing::TrustedKeys;

/// The file the active policy is kept in, inside the runtime's store folder.
pub const KEPT: &str = "active.wasm";

/// A component as it arrived: its bytes, the detached signature (text) that came with
/// it, if any, and where it came from ("admin-api", "sighup", "watch", "shared", "file",
/// "stored", "built-in", …).
#[derive(Clone)]
pub struct Candidate {
    pub bytes: Vec<u8>,
    pub signature: Option<String>,
    pub source: String,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("bytes", &self.bytes.len())
            .field("signed", &self.signature.is_some())
            .field("source", &self.source)
            .finish()
    }
}

impl Candidate {
    /// A component that came without a signature.
    pub fn new(bytes: Vec<u8>, source: &str) -> Self {
        Candidate { bytes, signature: None, source: source.to_string() }
    }

    /// The same component with `signature`.
    pub fn signed(mut self, signature: Option<String>) -> Self {
        self.signature = signature;
        self
    }

    /// The component at `path`, with the signature beside it (`path.sig`) if there is one.
    pub fn read_file(path: &Path, source: &str) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let signature = signing::read_beside(path)?;
        Ok(Candidate { bytes, signature, source: source.to_string() })
    }
}

/// The policy kept in `dir` by the last swap, if there is one.
pub fn read_kept(dir: &Path) -> std::io::Result<Option<Candidate>> {
    match Candidate::read_file(&dir.join(KEPT), "stored") {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Keeps the active policy's bytes (and its signature, if it came with one) in `dir` so
/// a restart comes back with it; the built-in policy is kept as no file at all. The old
/// signature goes first: a crash half-way leaves a pair that fails its check (and the
/// configured policy is used), never a wrong pair that passes.
pub(super) fn keep(dir: &Path, policy: &LoadedPolicy) {
    let path = dir.join(KEPT);
    let sig = signing::sig_path(&path);
    let remove = |p: &Path| match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    let result = if *policy.bytes == *BUILTIN_POLICY {
        remove(&path).and_then(|()| remove(&sig))
    } else {
        std::fs::create_dir_all(dir).and_then(|()| {
            remove(&sig)?;
            let tmp = dir.join("active.wasm.tmp");
            std::fs::write(&tmp, &policy.bytes)?;
            std::fs::rename(&tmp, &path)?;
            if let Some(text) = &policy.signature {
                let tmp = dir.join("active.wasm.sig.tmp");
                std::fs::write(&tmp, format!("{}\n", text.trim()))?;
                std::fs::rename(&tmp, &sig)?;
            }
            Ok(())
        })
    };
    if let Err(e) = result {
        tracing::error!(error = %e, path = %path.display(), "could not keep the active policy for restarts");
    }
}

/// The signature check every candidate passes before it is compiled: with trusted keys,
/// a signature by one of them (the built-in policy, part of this binary, needs none).
/// Returns the signature the policy carries (a well-formed one, in canonical form, also
/// when unchecked: it is kept and shared with the component) and the key that verified it.
pub(super) fn admit(trusted: &TrustedKeys, candidate: &Candidate) -> Result<Signed, PolicyError> {
    let text = candidate.signature.as_deref();
    let carried = text.and_then(|t| crate::signing::signature(t).ok()).map(|s| crate::signing::signature_text(&s));
    if trusted.is_empty() || candidate.bytes == BUILTIN_POLICY {
        return Ok((carried, None));
    }
    let key = trusted.verify(&candidate.bytes, text).map_err(PolicyError::Signature)?;
    Ok((carried, Some(key.to_string())))
}

/// A policy's signature (text) and the trusted key that verified it.
pub(super) type Signed = (Option<String>, Option<String>);
