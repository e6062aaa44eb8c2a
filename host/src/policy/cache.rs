//! Compiled-component cache: start-up and swaps of a known component skip
//! compilation. Entries are keyed by the component's SHA-256 and the engine's
//! compatibility hash (wasmtime version and settings), written atomically, and
//! carry an HMAC-SHA256 under a key kept in `secrets.json` (0600), checked before the
//! `unsafe` deserialize: someone who can write the cache folder but not read the
//! secrets cannot make the server run native code of their choosing. Anything that
//! does not check out is ignored and rebuilt, never trusted.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::Component;
use wasmtime::Engine;

const MAGIC: &[u8; 8] = b"IMGBEDC2";

/// Compiled components kept; older ones are removed.
const KEPT_ENTRIES: usize = 16;

/// A cache folder for one engine.
#[derive(Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCache").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl ArtifactCache {
    pub fn new(dir: &Path, engine: &Engine, key: &[u8]) -> Self {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        ArtifactCache { dir: dir.to_path_buf(), engine_key: format!("{:016x}", h.finish()), key: key.to_vec() }
    }

    /// The tag of an entry: its name (component and engine) and its bytes, under the key.
    fn tag(&self, sha256: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(sha256.as_bytes());
        mac.update(self.engine_key.as_bytes());
        mac.update(payload);
        mac
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
            // Constant time: the tag is a secret's work.
            self.tag(sha256, payload).verify_slice(sum).is_ok()
        };
        if !valid {
            tracing::warn!(path = %path.display(), "ignoring a corrupt compiled-policy cache entry");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let payload = &data[MAGIC.len() + 32..];
        // SAFETY: the bytes carry a valid HMAC under our secret key over this component's
        // SHA-256, this engine's compatibility key and the bytes themselves, so `put`
        // wrote them from `Component::serialize` of a compatible engine and nobody changed
        // them since. Wasmtime re-checks its header.
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(c) => {
                // Used now: the newest as far as pruning goes.
                let _ = std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Some(c)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable compiled-policy cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component (best effort: a failure only costs a recompile later).
    pub fn put(&self, sha256: &str, component: &Component) {
        match component.serialize() {
            Ok(payload) => self.put_serialized(sha256, &payload),
            Err(e) => tracing::warn!(error = %e, "could not serialize the compiled policy"),
        }
    }

    /// Stores the serialized compilation of the component with this SHA-256 (best effort).
    pub fn put_serialized(&self, sha256: &str, payload: &[u8]) {
        use std::io::Write;
        let result = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let path = self.path(sha256);
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&self.tag(sha256, payload).finalize().into_bytes())?;
            file.write_all(payload)?;
            drop(file);
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not write the compiled-policy cache");
        }
        self.prune();
    }

    /// Keeps the [`KEPT_ENTRIES`] newest entries: every swap to a new component adds
    /// one (megabytes each), and an entry only saves a compile.
    fn prune(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return };
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = dir
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".cwasm")))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (_, path) in entries.into_iter().skip(KEPT_ENTRIES) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_entries_are_kept_and_a_hit_counts_as_new() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path(), &Engine::default(), b"key");
        let sha = |i: usize| format!("{i:064x}");
        let entries = || std::fs::read_dir(dir.path()).unwrap().count();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for i in 0..KEPT_ENTRIES {
            cache.put_serialized(&sha(i), b"artifact");
            // Written an hour ago, the first one longest ago.
            let f = std::fs::File::options().write(true).open(cache.path(&sha(i))).unwrap();
            f.set_modified(old + std::time::Duration::from_secs(i as u64)).unwrap();
        }
        assert_eq!(entries(), KEPT_ENTRIES);
        cache.put_serialized(&sha(100), b"artifact");
        assert_eq!(entries(), KEPT_ENTRIES, "one more in, the oldest out");
        assert!(!cache.path(&sha(0)).exists() && cache.path(&sha(1)).exists() && cache.path(&sha(100)).exists());
    }
}
