//! File storage for uploaded bytes: a temp area and the final directory.
//!
//! Uploads are streamed to a temp file in the same file system as the final
//! directory and renamed into place, so a stored file is never half-written.
//! Path safety is the host's job: every name is checked here, whatever the
//! policy returned.

use std::io;
use std::path::{Path, PathBuf};

/// Longest stored name, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// Whether `name` is safe to use as a file name in the storage directory:
/// 1–200 bytes of `[A-Za-z0-9._-]`, not starting with a dot.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && !name.contains("..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The thumbnail file name of a stored name.
pub fn thumb_name(name: &str) -> String {
    format!("{name}.png")
}

/// A local storage directory.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    dir: PathBuf,
    tmp: PathBuf,
}

/// A file being received. Removed on drop unless [`LocalBlobs::persist`] took it.
#[derive(Debug)]
pub struct TempBlob {
    path: PathBuf,
    kept: bool,
}

impl TempBlob {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl LocalBlobs {
    /// Uses `dir` (created if missing); temp files go to `dir/.tmp`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let tmp = dir.join(".tmp");
        std::fs::create_dir_all(&tmp)?;
        Ok(LocalBlobs { dir: dir.to_path_buf(), tmp })
    }

    /// A fresh temp file path with a random name (the file is created by the caller).
    pub fn temp(&self) -> TempBlob {
        let id: u128 = rand::random();
        TempBlob { path: self.tmp.join(format!("{id:032x}.part")), kept: false }
    }

    /// The path of a stored name, or `None` if the name is not safe.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        is_safe_name(name).then(|| self.dir.join(name))
    }

    /// Writes `bytes` under `name` (via a temp file and a rename).
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let temp = self.temp();
        std::fs::write(temp.path(), bytes)?;
        self.persist(temp, name)
    }

    /// Moves a received file into place under `name`.
    pub fn persist(&self, mut temp: TempBlob, name: &str) -> io::Result<()> {
        let dest = self.path_of(name).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unsafe name"))?;
        std::fs::rename(&temp.path, dest)?;
        temp.kept = true;
        Ok(())
    }

    /// Removes a stored file; a missing file is not an error.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        match self.path_of(name) {
            Some(p) => match std::fs::remove_file(p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Names of all stored files (not the temp area).
    pub fn names(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Checks that the storage takes writes: creates and removes a small temp file.
    pub fn probe(&self) -> io::Result<()> {
        let temp = self.temp();
        std::fs::write(temp.path(), b"ready")?;
        drop(temp);
        Ok(())
    }

    /// Removes every leftover temp file (start-up: nothing is in flight yet).
    pub fn clear_temp(&self) -> io::Result<usize> {
        let mut n = 0;
        for entry in std::fs::read_dir(&self.tmp)? {
            std::fs::remove_file(entry?.path())?;
            n += 1;
        }
        Ok(n)
    }
}
