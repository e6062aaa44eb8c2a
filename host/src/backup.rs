//! `imgbed backup DIR` and `imgbed restore DIR`.
//!
//! A backup folder is itself a SQLite + local-files storage (`imgbed.db`, `images/`,
//! `thumbs/`) with a `manifest.json` written last: a folder without one is not a
//! finished backup.
//!
//! - SQLite: the live database is copied at one point in time with SQLite's online
//!   backup API (safe while the server writes: WAL mode), then every record of that
//!   copy is brought over with its file, read through the blob store. A record whose
//!   file was deleted after the copy was taken is left out and reported.
//! - MongoDB: the collections are streamed through the same traits. That is not one
//!   point in time across collections: each record comes with its file, but records
//!   stored or deleted while it runs may or may not be in the backup.
//!
//! Every copied file is hashed on the way and must match its record's digest. Variants
//! (`variants/`) are left out: they are derived from the images and made again on demand.
//! `restore` copies a backup as it is (never judged again) into an empty storage.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blob::{thumb_name, BlobStore, Located, TempArea};
use crate::clock::now;
use crate::config::{Config, Settings};
use crate::store::{MetaStore, SqliteStore, StoreError};
use crate::Storage;

/// The manifest's file name in a backup folder.
pub const MANIFEST: &str = "manifest.json";
/// The backup format this version writes and reads.
pub const FORMAT: u32 = 1;
/// The live database's point-in-time copy, while a backup runs.
const SNAPSHOT: &str = ".snapshot.db";

/// What a backup folder holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// When the backup was taken, seconds since the epoch.
    pub created: f64,
    /// The source's `database.engine` and `database.blob`.
    pub source_engine: String,
    pub source_blob: String,
    /// Whether the source keeps thumbnails (`server.image_zip`); they are in `thumbs/`.
    pub thumbnails: bool,
    pub users: u64,
    pub bans: u64,
    pub legacy_tokens: u64,
    pub images: u64,
    /// Sum of the images' sizes.
    pub bytes: u64,
}

/// What `backup` did.
#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub dir: PathBuf,
    /// "point-in-time" (SQLite) or "per-record" (MongoDB).
    pub consistency: &'static str,
    pub manifest: Manifest,
    /// (name, why) of records left out: their file was deleted while the backup ran.
    pub left_out: Vec<(String, String)>,
}

/// What `restore` did.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub restored: crate::migrate::Report,
    /// Files read back from the restored storage whose digest matched their record.
    pub verified: u64,
}

/// The storage settings of a backup folder: SQLite and local files inside it.
fn folder_settings(dir: &Path, thumbnails: bool) -> Settings {
    let mut config = Config::default();
    config.server.image_zip = thumbnails;
    crate::config::resolve(config, dir.to_path_buf())
}

/// What [`copy_hashed`] copied: its size, its SHA-256 (hex) and the key the target keeps
/// it under, if it keeps one.
type Hashed = (u64, String, Option<String>);

/// Copies one file (read where its record locates it) through `temp`, hashing it on the
/// way, into `to` (with its type `mime`, when known); None if the source has no such
/// file (any more).
async fn copy_hashed(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    temp: &TempArea,
    blob: Located<'_>,
    mime: Option<&str>,
) -> anyhow::Result<Option<Hashed>> {
    let name = blob.name;
    let Some(len) = from.size_located(blob).await? else { return Ok(None) };
    let file = temp.temp();
    let copied = async {
        let mut out = std::fs::File::create(file.path())?;
        let mut hash = Sha256::new();
        let mut size = 0u64;
        let mut stream = from.read_located(blob, 0, len).await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hash.update(&chunk);
            size += chunk.len() as u64;
            out.write_all(&chunk)?;
        }
        out.sync_all()?;
        Ok::<_, std::io::Error>((size, hex::encode(hash.finalize())))
    }
    .await;
    let got = match copied {
        Ok(got) => got,
        // Deleted between the size and the read.
        Err(_) if from.size(name).await?.is_none() => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {name}")),
    };
    let stored = match mime {
        Some(mime) => to.put_file_as(file.path(), name, mime).await,
        None => to.put_file(file.path(), name).await.map(|()| None),
    };
    match stored {
        Ok(key) => Ok(Some((got.0, got.1, key))),
        Err(e) => Err(e).with_context(|| format!("writing {name} into the backup")),
    }
}

/// Copies every account, ban, legacy token and record (each file before its record) of
/// `store` and `blobs` into the backup storage `to`. Returns the manifest counts, the
/// records left out, and the digest mismatches.
async fn copy_into(
    store: &dyn MetaStore,
    blobs: &dyn BlobStore,
    thumbs: Option<&dyn BlobStore>,
    to: &Storage,
    manifest: &mut Manifest,
) -> anyhow::Result<(Vec<(String, String)>, Vec<String>)> {
    for u in store.all_users().await? {
        match to.store.create_user(&u).await {
            Ok(()) | Err(StoreError::UserExists) => manifest.users += 1,
            Err(e) => return Err(e.into()),
        }
    }
    for (mail, time) in store.all_bans().await? {
        to.store.ban(&mail, time).await?;
        manifest.bans += 1;
    }
    for (mail, hash) in store.all_legacy_tokens().await? {
        to.store.add_legacy_token(&mail, &hash).await?;
        manifest.legacy_tokens += 1;
    }
    let (mut left_out, mut errors) = (Vec::new(), Vec::new());
    // The names as they are now: on MongoDB later uploads are not chased.
    for name in store.all_names().await? {
        let Some(mut record) = store.get(&name).await? else { continue };
        let copied = copy_hashed(blobs, to.blobs.as_ref(), &to.temp, record.blob(), Some(&record.mime)).await?;
        let Some((size, digest, key)) = copied else {
            left_out.push((name, "its file was deleted while the backup ran".into()));
            continue;
        };
        if size != record.size || digest != record.digest {
            errors.push(format!("{name}: the file ({size} bytes, sha256 {digest}) does not match its record"));
            to.blobs.remove(&name).await?;
            continue;
        }
        // A thumbnail can be made again; a missing one does not stop the backup. The
        // backup's record says whether the backup has one.
        record.thumb = Some(match (thumbs, &to.thumbs) {
            (Some(a), Some(b)) => {
                copy_hashed(a, b.as_ref(), &to.temp, Located::by_name(&thumb_name(&name)), None).await?.is_some()
            }
            _ => false,
        });
        // Where the backup keeps the file (a folder: found by name), not where the source did.
        record.blob_key = key;
        to.store.insert(&record).await.with_context(|| format!("recording {name} in the backup"))?;
        manifest.images += 1;
        manifest.bytes += record.size;
    }
    Ok((left_out, errors))
}

/// Fails unless `dir` is missing or an empty folder, then creates it.
fn fresh_folder(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!("the backup folder {} exists and is not empty: back up into a new folder", dir.display());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Takes a point-in-time copy of a live SQLite database (online backup API, one step).
fn snapshot_sqlite(live: &Path, to: &Path) -> anyhow::Result<()> {
    use rusqlite::{Connection, OpenFlags};
    let src = Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("opening {}", live.display()))?;
    src.busy_timeout(Duration::from_secs(10))?;
    let mut dst = Connection::open(to)?;
    // All pages in one step: one read transaction, so one point in time; the server's
    // writers go on meanwhile (WAL).
    let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
    for _ in 0..400 {
        match backup.step(-1).with_context(|| format!("copying {}", live.display()))? {
            rusqlite::backup::StepResult::Done => return Ok(()),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    bail!("{} stayed locked for 20 s: no copy taken", live.display())
}

fn remove_snapshot(dir: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(dir.join(format!("{SNAPSHOT}{suffix}")));
    }
}

/// `imgbed backup DIR`: a backup of the configured storage while the server runs.
pub async fn backup(settings: &Settings, dir: &Path) -> anyhow::Result<BackupReport> {
    fresh_folder(dir)?;
    let db = &settings.config.database;
    let live = crate::open_storage(settings).await.context("opening the storage")?;
    let mut manifest = Manifest {
        format: FORMAT,
        created: now(),
        source_engine: db.engine.clone(),
        source_blob: db.blob.clone(),
        thumbnails: live.thumbs.is_some(),
        users: 0,
        bans: 0,
        legacy_tokens: 0,
        images: 0,
        bytes: 0,
    };
    let target = crate::open_storage(&folder_settings(dir, manifest.thumbnails))
        .await
        .with_context(|| format!("creating the backup in {}", dir.display()))?;
    let (consistency, copied) = match live.mongo.is_some() {
        true => {
            let (store, blobs, thumbs) = (live.store.as_ref(), live.blobs.as_ref(), live.thumbs.as_deref());
            ("per-record", copy_into(store, blobs, thumbs, &target, &mut manifest).await)
        }
        false => {
            let path = dir.join(SNAPSHOT);
            let (from, to) = (settings.sqlite_path.clone(), path.clone());
            tokio::task::spawn_blocking(move || snapshot_sqlite(&from, &to)).await??;
            let snapshot = SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
            let copied =
                copy_into(&snapshot, live.blobs.as_ref(), live.thumbs.as_deref(), &target, &mut manifest).await;
            drop(snapshot);
            remove_snapshot(dir);
            ("point-in-time", copied)
        }
    };
    let (left_out, errors) = copied?;
    // Closing the backup's database folds its write-ahead log into the file.
    let image_tmp = folder_settings(dir, false).image_dir.join(".tmp");
    drop(target);
    let _ = std::fs::remove_dir(image_tmp);
    if !errors.is_empty() {
        bail!("{} files do not match their records, left out of the backup: {errors:?}", errors.len());
    }
    let text = serde_json::to_vec_pretty(&manifest)?;
    let part = dir.join(format!(".{MANIFEST}.part"));
    std::fs::write(&part, text)?;
    std::fs::File::open(&part)?.sync_all()?;
    std::fs::rename(&part, dir.join(MANIFEST))?;
    Ok(BackupReport { dir: dir.to_path_buf(), consistency, manifest, left_out })
}

/// Reads and checks a backup folder's manifest.
pub fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path)
        .with_context(|| format!("{} is not a finished backup: cannot read {}", dir.display(), path.display()))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).with_context(|| format!("{} is not a backup manifest", path.display()))?;
    if manifest.format != FORMAT {
        bail!("backup format {} is not supported (this version reads format {FORMAT})", manifest.format);
    }
    if !folder_settings(dir, false).sqlite_path.is_file() {
        bail!("{} has a manifest but no database: not a complete backup", dir.display());
    }
    Ok(manifest)
}

/// Fails unless the storage holds no record, account, ban, legacy token or file.
async fn require_empty(to: &Storage) -> anyhow::Result<()> {
    let records = to.store.all_names().await?.len();
    let accounts = to.store.all_users().await?.len();
    let bans = to.store.all_bans().await?.len();
    let tokens = to.store.all_legacy_tokens().await?.len();
    let mut files = to.blobs.list().await?.len();
    if let Some(t) = &to.thumbs {
        files += t.list().await?.len();
    }
    if records + accounts + bans + tokens + files > 0 {
        bail!(
            "the target storage is not empty ({records} records, {accounts} accounts, {bans} bans, \
             {tokens} legacy tokens, {files} files): restore needs an empty data folder and database"
        );
    }
    Ok(())
}

/// Hashes a stored file, read where its record locates it: (size, SHA-256 hex), None if
/// it is missing.
async fn hash_blob(blobs: &dyn BlobStore, blob: Located<'_>) -> anyhow::Result<Option<(u64, String)>> {
    let Some(len) = blobs.size_located(blob).await? else { return Ok(None) };
    let mut stream = match blobs.read_located(blob, 0, len).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other?,
    };
    let mut hash = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hash.update(&chunk);
        size += chunk.len() as u64;
    }
    Ok(Some((size, hex::encode(hash.finalize()))))
}

/// `imgbed restore DIR`: copies a backup as it is into the configured (empty) storage,
/// then checks counts and every file's digest.
pub async fn restore(settings: &Settings, dir: &Path) -> anyhow::Result<RestoreReport> {
    let manifest = read_manifest(dir)?;
    let to = crate::open_storage(settings).await.context("opening the target storage")?;
    require_empty(&to).await?;
    let from = crate::open_storage(&folder_settings(dir, manifest.thumbnails))
        .await
        .with_context(|| format!("opening the backup in {}", dir.display()))?;
    let restored = crate::migrate::migrate(&from, &to).await;
    drop(from);
    let _ = std::fs::remove_dir(folder_settings(dir, false).image_dir.join(".tmp"));
    let restored = restored?;
    if !restored.skipped.is_empty() {
        bail!("{} records could not be restored: {:?}", restored.skipped.len(), restored.skipped);
    }
    let got = (restored.users, restored.bans, restored.legacy_tokens, restored.images);
    let want = (manifest.users, manifest.bans, manifest.legacy_tokens, manifest.images);
    if got != want {
        bail!("restored (users, bans, legacy tokens, images) {got:?}, but the manifest lists {want:?}");
    }
    let mut verified = 0;
    let mut errors = Vec::new();
    for name in to.store.all_names().await? {
        let Some(record) = to.store.get(&name).await? else { continue };
        match hash_blob(to.blobs.as_ref(), record.blob()).await? {
            Some((size, digest)) if size == record.size && digest == record.digest => verified += 1,
            Some(_) => errors.push(format!("{name}: the restored file does not match its record")),
            None => errors.push(format!("{name}: the restored file is missing")),
        }
    }
    if !errors.is_empty() {
        bail!("{} restored files failed the check: {errors:?}", errors.len());
    }
    if verified != manifest.images {
        bail!("{verified} images restored, but the manifest lists {}", manifest.images);
    }
    Ok(RestoreReport { dir: dir.to_path_buf(), manifest, restored, verified })
}
