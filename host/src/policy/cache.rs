//! Compiled-component cache: start-up and swaps of a known component skip
//! compilation. Entries are keyed by the component's SHA-256 and the engine's
//! compatibility hash (wasmtime version and settings), written atomically, and
//! carry our own checksum, checked before the `unsafe` deserialize. Anything
//! that does not check out is ignored and rebuilt, never trusted.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

const MAGIC: &[u8; 8] = b"IMGBEDC1";

/// A cache folder for one engine.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub fn new(dir: &Path, engine: &Engine) -> Self {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        ArtifactCache { dir: dir.to_path_buf(), engine_key: format!("{:016x}", h.finish()) }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// A cached compilation of the component with this SHA-256, if a valid one exists.
    pub fn get(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        let data = std::fs::read(&path).ok()?;
        let valid = data.len() > MAGIC.len() + 32 && &data[..MAGIC.len()] == MAGIC && {
            let (sum, payload) = data[MAGIC.len()..].split_at(32);
            Sha256::digest(payload).as_slice() == sum
        };
        if !valid {
            tracing::warn!(path = %path.display(), "ignoring a corrupt compiled-policy cache entry");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let payload = &data[MAGIC.len() + 32..];
        // SAFETY: the bytes were written by `put` from `Component::serialize` with this
        // engine's compatibility key in the file name, and their checksum matches, so they
        // are an unmodified artifact of a compatible engine. Wasmtime re-checks its header.
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable compiled-policy cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component (best effort: a failure only costs a recompile later).
    pub fn put(&self, sha256: &str, component: &Component) {
        let result = (|| -> std::io::Result<()> {
            let payload = component.serialize().map_err(std::io::Error::other)?;
            std::fs::create_dir_all(&self.dir)?;
            let mut data = Vec::with_capacity(MAGIC.len() + 32 + payload.len());
            data.extend_from_slice(MAGIC);
            data.extend_from_slice(&Sha256::digest(&payload));
            data.extend_from_slice(&payload);
            let path = self.path(sha256);
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, &data)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not write the compiled-policy cache");
        }
    }
}
