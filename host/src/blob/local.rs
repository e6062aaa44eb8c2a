//! Stored files in a local folder.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{is_safe_name, sync_dir, unsafe_name, BlobStore, ByteStream, Fetched, SharedSync, QUARANTINE};

/// Bytes per read when a file is streamed.
const STREAM_CHUNK: usize = 256 * 1024;

/// A local storage folder. One host owns it. Every stored file and its name are
/// synced before `put_*` returns, so a record never outlives its file's bytes.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    dir: PathBuf,
    /// Syncs of `dir` after new names, shared by concurrent uploads.
    syncs: Arc<SharedSync>,
}

impl LocalBlobs {
    /// Uses `dir` (created if missing).
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(LocalBlobs { dir: dir.to_path_buf(), syncs: Arc::default() })
    }

    /// The path of a stored name, or `None` if the name is not safe.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        is_safe_name(name).then(|| self.dir.join(name))
    }

    fn quarantine_dir(&self) -> PathBuf {
        self.dir.join(QUARANTINE)
    }

    /// The path of a quarantine entry (`quarantine/NAME`).
    fn entry_path(&self, entry: &str) -> io::Result<PathBuf> {
        let name = entry.strip_prefix(&format!("{QUARANTINE}/")).filter(|n| is_safe_name(n)).ok_or_else(unsafe_name)?;
        Ok(self.quarantine_dir().join(name))
    }
}

/// Makes `src` visible as `dest` whole or not at all (a hard link appears whole and fails
/// if the name exists), then syncs the folder entry.
fn link_or_copy(src: &Path, dest: &Path, dir: &Path, syncs: &SharedSync) -> io::Result<()> {
    match std::fs::hard_link(src, dest) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Ok(()) => syncs.sync(dir),
        Err(_) => {
            // No hard links on this file system: copy into a new file that must not exist
            // yet. It is half-written only until the copy ends, before any record names it.
            let mut out = std::fs::File::options().write(true).create_new(true).open(dest)?;
            let mut input = std::fs::File::open(src)?;
            if let Err(e) = std::io::copy(&mut input, &mut out).and_then(|_| out.sync_all()) {
                let _ = std::fs::remove_file(dest);
                return Err(e);
            }
            syncs.sync(dir)
        }
    }
}

fn modified(p: &Path) -> io::Result<Option<SystemTime>> {
    match std::fs::metadata(p) {
        Ok(m) => Ok(Some(m.modified()?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobs {
    async fn put_file(&self, path: &Path, name: &str) -> io::Result<()> {
        let dest = self.path_of(name).ok_or_else(unsafe_name)?;
        let (src, dir, syncs) = (path.to_path_buf(), self.dir.clone(), self.syncs.clone());
        tokio::task::spawn_blocking(move || {
            // Its age counts from now, not from when it was received: reconciliation and
            // fsck judge files without a record by their age.
            std::fs::File::options().write(true).open(&src)?.set_modified(SystemTime::now())?;
            link_or_copy(&src, &dest, &dir, &syncs)
        })
        .await?
    }

    async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        let dest = self.path_of(name).ok_or_else(unsafe_name)?;
        let tmp = self.dir.join(format!(".{:032x}.part", rand::random::<u128>()));
        let (dir, syncs) = (self.dir.clone(), self.syncs.clone());
        tokio::task::spawn_blocking(move || {
            let written = std::fs::File::create(&tmp).and_then(|mut f| {
                std::io::Write::write_all(&mut f, &bytes)?;
                f.sync_all()
            });
            let linked = written.and_then(|()| std::fs::hard_link(&tmp, &dest));
            let _ = std::fs::remove_file(&tmp);
            linked.and_then(|()| syncs.sync(&dir))
        })
        .await?
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        match self.path_of(name) {
            Some(p) => match tokio::fs::remove_file(p).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    async fn remove_before(&self, name: &str, before: SystemTime) -> io::Result<()> {
        let Some(p) = self.path_of(name) else { return Ok(()) };
        match tokio::task::spawn_blocking(move || modified(&p)).await?? {
            Some(m) if m < before => self.remove(name).await,
            _ => Ok(()),
        }
    }

    async fn size(&self, name: &str) -> io::Result<Option<u64>> {
        let Some(p) = self.path_of(name) else { return Ok(None) };
        match tokio::fs::metadata(p).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self, name: &str, start: u64, len: u64) -> io::Result<ByteStream> {
        let p = self.path_of(name).ok_or_else(unsafe_name)?;
        let mut file = tokio::fs::File::open(p).await?;
        file.seek(io::SeekFrom::Start(start)).await?;
        // Large reads: every read is a hand-off to the blocking pool.
        Ok(Box::pin(ReaderStream::with_capacity(file.take(len), STREAM_CHUNK)))
    }

    async fn fetch(&self, name: &str, small: u64) -> io::Result<Option<Fetched>> {
        let p = self.path_of(name).ok_or_else(unsafe_name)?;
        // Open, size and read in one hand-off to the blocking pool.
        tokio::task::spawn_blocking(move || {
            let mut file = match std::fs::File::open(&p) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let meta = file.metadata()?;
            if !meta.is_file() {
                return Ok(None);
            }
            if meta.len() > small {
                return Ok(Some(Fetched::Large(meta.len())));
            }
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, meta.len()), &mut bytes)?;
            Ok(Some(Fetched::Small(bytes.into())))
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn list(&self) -> io::Result<Vec<(String, Duration)>> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let now = SystemTime::now();
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                // Names first: dot-files (the readiness probe, interrupted writes) come and
                // go while the folder is read, and are never stored names.
                let Some(name) = entry.file_name().to_str().filter(|n| is_safe_name(n)).map(str::to_string) else {
                    continue;
                };
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    // Deleted since the folder was read: nothing to list.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if meta.is_file() {
                    let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).unwrap_or_default();
                    out.push((name, age));
                }
            }
            Ok(out)
        })
        .await?
    }

    async fn probe(&self) -> io::Result<()> {
        let p = self.dir.join(format!(".probe-{:032x}", rand::random::<u128>()));
        tokio::fs::write(&p, b"ready").await?;
        tokio::fs::remove_file(&p).await
    }

    async fn sweep(&self) -> io::Result<usize> {
        // Interrupted `put_bytes` leave dot-files behind (run before serving: none is in flight).
        let mut n = 0;
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(e) = entries.next_entry().await? {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".part") {
                tokio::fs::remove_file(e.path()).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn grace(&self) -> Duration {
        Duration::ZERO
    }

    async fn quarantine(&self, name: &str, older_than: SystemTime) -> io::Result<String> {
        let src = self.path_of(name).ok_or_else(unsafe_name)?;
        let (dir, to) = (self.dir.clone(), self.quarantine_dir());
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            if modified(&src)?.is_none_or(|m| m >= older_than) {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            std::fs::create_dir_all(&to)?;
            // Never replace an earlier quarantined file of the same name.
            let mut entry = name.clone();
            let mut n = 0;
            while to.join(&entry).exists() {
                n += 1;
                entry = format!("{name}.{n}");
            }
            std::fs::rename(&src, to.join(&entry))?;
            sync_dir(&to)?;
            sync_dir(&dir)?;
            Ok(format!("{QUARANTINE}/{entry}"))
        })
        .await?
    }

    async fn restore(&self, entry: &str, name: &str) -> io::Result<()> {
        let (src, dest) = (self.entry_path(entry)?, self.path_of(name).ok_or_else(unsafe_name)?);
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            // A link never replaces a file that took the name meanwhile.
            std::fs::hard_link(&src, &dest)?;
            std::fs::remove_file(&src)?;
            sync_dir(&dir)
        })
        .await?
    }

    async fn quarantined(&self) -> io::Result<Vec<String>> {
        let dir = self.quarantine_dir();
        tokio::task::spawn_blocking(move || {
            let entries = match std::fs::read_dir(&dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                other => other?,
            };
            let mut out = Vec::new();
            for entry in entries {
                if let Some(name) = entry?.file_name().to_str() {
                    out.push(format!("{QUARANTINE}/{name}"));
                }
            }
            out.sort();
            Ok(out)
        })
        .await?
    }

    async fn purge_quarantined(&self, entry: &str) -> io::Result<()> {
        tokio::fs::remove_file(self.entry_path(entry)?).await
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }
}
