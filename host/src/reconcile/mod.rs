//! Files and records, reconciled without destroying anything.
//!
//! At start, before serving: temp files of this host's interrupted uploads are
//! removed (never acknowledged), half-done account removals and deletes are finished
//! (their records are already gone). After the server is ready, in the background:
//! a record whose file is missing is *reported* (log, `/readyz`, a metric), never
//! deleted; a file without a record is *moved to quarantine*, never deleted, and only
//! if it is old enough that no upload can still be between its file and its record.
//! Deleting either is the operator's explicit `imgbed fsck --repair`.

mod recorded;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::blob::{thumb_name, BlobStore, TempArea};
use crate::config::layout::normalise;
use crate::config::Settings;
use crate::store::MetaStore;
use recorded::Recorded;

/// What a look at the stores found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    /// Records whose file is missing.
    pub missing_files: Vec<String>,
    /// Stored files without a record, old enough to judge.
    pub unrecorded_files: Vec<String>,
    /// Thumbnails whose image has no record, old enough to judge.
    pub unrecorded_thumbnails: Vec<String>,
    /// Files without a record too recent to judge (an upload may be storing them).
    pub too_recent: usize,
    /// Records whose file is missing but sits in quarantine under its name (a store
    /// reconciled against the wrong database): `--repair` moves it back.
    pub restorable: Vec<String>,
    /// What is in quarantine already.
    pub quarantined: Vec<String>,
    /// Deletes whose record is gone and whose files may remain.
    pub pending_deletes: Vec<String>,
    /// Variants whose image has no record, old enough to judge (derived files: removed,
    /// not quarantined).
    pub orphan_variants: Vec<String>,
    /// Files stored after this are too recent to judge.
    #[serde(skip)]
    pub cutoff: Option<SystemTime>,
}

/// The stores to reconcile.
pub struct Stores<'a> {
    pub store: &'a dyn MetaStore,
    pub blobs: &'a dyn BlobStore,
    pub thumbs: Option<&'a dyn BlobStore>,
    /// The variant cache: derived files, removed (not quarantined) once their image is gone.
    pub variants: Option<&'a dyn BlobStore>,
    /// Names in the image and thumbnail folders that are the server's own files (config,
    /// secrets, database…), never touched whatever the layout; worked out once.
    own_in_blobs: HashSet<String>,
    own_in_thumbs: HashSet<String>,
}

/// The names in `store`'s folder (if it is a local one) of the `protected` paths.
fn own_names(store: Option<&dyn BlobStore>, protected: &[PathBuf]) -> HashSet<String> {
    let Some(dir) = store.and_then(|s| s.local_dir()).map(normalise) else { return HashSet::new() };
    protected
        .iter()
        .map(|p| normalise(p))
        .filter(|p| p.parent() == Some(dir.as_path()))
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect()
}

/// The names of `listed` without a record (`recorded` says which have one), split into
/// those at least `oldest_new` old and a count of the younger ones.
fn unrecorded(
    listed: Vec<(String, Duration)>,
    recorded: impl Fn(&str) -> bool,
    oldest_new: Duration,
) -> (Vec<String>, usize) {
    let (mut old, mut young) = (Vec::new(), 0);
    for (name, age) in listed {
        if recorded(&name) {
            continue;
        }
        if age >= oldest_new {
            old.push(name);
        } else {
            young += 1;
        }
    }
    old.sort();
    (old, young)
}

impl<'a> Stores<'a> {
    /// The stores of this configuration, with the server's own files kept out of reach.
    pub fn new(
        store: &'a dyn MetaStore,
        blobs: &'a dyn BlobStore,
        thumbs: Option<&'a dyn BlobStore>,
        settings: &Settings,
    ) -> Self {
        let protected = crate::protected_files(settings);
        let own_in_blobs = own_names(Some(blobs), &protected);
        let own_in_thumbs = own_names(thumbs, &protected);
        Stores { store, blobs, thumbs, variants: None, own_in_blobs, own_in_thumbs }
    }

    /// The same stores with a variant cache.
    pub fn with_variants(mut self, variants: Option<&'a dyn BlobStore>) -> Self {
        self.variants = variants;
        self
    }

    /// The variants whose image has no record (deleted, or removed with its account by
    /// another host), once older than the store's grace period. Only names shaped like
    /// variant keys are judged: anything else in the folder (a `variants.path` pointed at
    /// the wrong place) is not the server's to remove.
    async fn orphan_variants(&self, recorded: &Recorded, started: Option<SystemTime>) -> anyhow::Result<Vec<String>> {
        let Some(variants) = self.variants else { return Ok(Vec::new()) };
        let listed = variants.list().await?;
        let oldest_new = min_age(variants, started);
        let orphan = |key: &str| crate::variants::spec::stem_of(key).is_some_and(|s| !recorded.has_stem(s));
        let mut found: Vec<String> =
            listed.into_iter().filter(|(key, age)| orphan(key) && *age >= oldest_new).map(|(key, _)| key).collect();
        found.sort();
        Ok(found)
    }

    /// Removes these variants (the `orphan_variants` [`Stores::find`] found).
    pub async fn remove_variants(&self, keys: &[String]) -> anyhow::Result<()> {
        if let Some(variants) = self.variants {
            for key in keys {
                variants.remove(key).await?;
            }
        }
        Ok(())
    }

    /// Looks at everything; a file counts as unrecorded only if it was stored before this
    /// process `started` (when given) and is older than the store's grace period.
    pub async fn find(&self, started: Option<SystemTime>) -> anyhow::Result<Findings> {
        let pending = self.store.pending_deletes().await?;
        let mut f =
            Findings { pending_deletes: pending.iter().map(|(n, _)| n.clone()).collect(), ..Findings::default() };
        let skip: HashSet<&str> = f.pending_deletes.iter().map(String::as_str).collect();
        // Records first, then files: an upload finishing in between shows as a young
        // file (left alone), never as a record without its file. The names are read once
        // for every store, kept sorted (no hash table beside them: a million names).
        let recorded = Recorded::new(self.store.all_names().await?, self.variants.is_some());
        let mut listed = self.blobs.list().await?;
        listed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let oldest_new = min_age(self.blobs, started);
        f.cutoff = SystemTime::now().checked_sub(oldest_new);
        f.quarantined = self.blobs.quarantined().await?;
        {
            let stored = |name: &str| listed.binary_search_by(|(n, _)| n.as_str().cmp(name)).is_ok();
            let prefix = format!("{}/", crate::blob::QUARANTINE);
            let in_quarantine: HashSet<&str> = f.quarantined.iter().filter_map(|q| q.strip_prefix(&prefix)).collect();
            for name in recorded.iter().filter(|n| !stored(n)) {
                match in_quarantine.contains(name) {
                    true => f.restorable.push(name.to_string()),
                    false => f.missing_files.push(name.to_string()),
                }
            }
        }
        let has = |n: &str| recorded.has(n) || skip.contains(n) || self.own_in_blobs.contains(n);
        (f.unrecorded_files, f.too_recent) = unrecorded(listed, has, oldest_new);
        if let Some(thumbs) = self.thumbs {
            let listed = thumbs.list().await?;
            let oldest_new = min_age(thumbs, started);
            // A thumbnail is its image's name and `.png` (`thumb_name`).
            let has = |n: &str| {
                let image = n.strip_suffix(".png");
                image.is_some_and(|i| recorded.has(i))
                    || skip.contains(image.unwrap_or(n))
                    || self.own_in_thumbs.contains(n)
            };
            let (found, young) = unrecorded(listed, has, oldest_new);
            f.unrecorded_thumbnails = found;
            f.too_recent += young;
            f.quarantined.extend(thumbs.quarantined().await?.into_iter().map(|q| format!("thumbs/{q}")));
        }
        f.orphan_variants = self.orphan_variants(&recorded, started).await?;
        Ok(f)
    }

    /// Removes the files of deletes whose records are gone — only files stored before the
    /// delete (a later upload may have taken the name) — then forgets them. The thumbnail
    /// goes first: an upload can only take the name once the image file is gone.
    pub async fn finish_deletes(&self) -> anyhow::Result<usize> {
        let pending = self.store.pending_deletes().await?;
        for (name, time) in &pending {
            let before = UNIX_EPOCH + Duration::from_secs_f64(time.max(0.0));
            if self.store.get(name).await?.is_none() {
                if let Some(thumbs) = self.thumbs {
                    thumbs.remove_before(&thumb_name(name), before).await?;
                }
                self.blobs.remove_before(name, before).await?;
            }
            self.store.clear_pending(name).await?;
        }
        Ok(pending.len())
    }

    /// Moves what `found` lists as unrecorded into quarantine, checking each again first
    /// (a record may have come, the file may have gone or been replaced).
    pub async fn quarantine(&self, found: &Findings) -> anyhow::Result<Vec<String>> {
        let Some(cutoff) = found.cutoff else { return Ok(Vec::new()) };
        let mut moved = Vec::new();
        for name in &found.unrecorded_files {
            if self.store.get(name).await?.is_none() {
                if let Some(entry) = gone_is_fine(self.blobs.quarantine(name, cutoff).await)? {
                    moved.push(entry);
                }
            }
        }
        if let Some(thumbs) = self.thumbs {
            for thumb in &found.unrecorded_thumbnails {
                let image = thumb.strip_suffix(".png").unwrap_or(thumb);
                if self.store.get(image).await?.is_none() {
                    if let Some(entry) = gone_is_fine(thumbs.quarantine(thumb, cutoff).await)? {
                        moved.push(format!("thumbs/{entry}"));
                    }
                }
            }
        }
        Ok(moved)
    }

    /// Moves the quarantined files of records listed as restorable back into place.
    pub async fn restore(&self, found: &Findings) -> anyhow::Result<Vec<String>> {
        let mut restored = Vec::new();
        for name in &found.restorable {
            let entry = format!("{}/{name}", crate::blob::QUARANTINE);
            if gone_is_fine(self.blobs.restore(&entry, name).await.map(|()| entry))?.is_some() {
                restored.push(name.clone());
            }
            // Its thumbnail went to quarantine with it (the record says it has one).
            if let Some(thumbs) = self.thumbs {
                let thumb = thumb_name(name);
                gone_is_fine(thumbs.restore(&format!("{}/{thumb}", crate::blob::QUARANTINE), &thumb).await)?;
            }
        }
        Ok(restored)
    }
}

/// A file that is gone (or was replaced) by the time it is moved needs nothing more.
fn gone_is_fine<T>(r: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::AlreadyExists) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Margin for file times: the kernel stamps them from a coarse clock that may lag the
/// process's `now` by a tick.
const CLOCK_MARGIN: Duration = Duration::from_millis(100);

/// How old a file without a record must be to be judged: older than the store's grace
/// period and, when `started` is given, older than this process (a file made since may
/// belong to an upload between its file and its record). Taken after listing.
fn min_age(store: &dyn BlobStore, started: Option<SystemTime>) -> Duration {
    let running = started.and_then(|s| SystemTime::now().duration_since(s).ok()).map(|d| d + CLOCK_MARGIN);
    store.grace().max(running.unwrap_or_default())
}

/// Where start-up reconciliation is, for `/readyz` and the metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Running,
    Done(Report),
    Failed(String),
}

/// What start-up reconciliation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub temp_files_removed: usize,
    /// Interrupted blob writes: local dot-files, unpublished MongoDB chunks.
    pub part_files_removed: usize,
    pub deletes_finished: usize,
    pub removals_finished: usize,
    pub quarantined: Vec<String>,
    /// Variants whose image is gone.
    pub variants_removed: usize,
    pub missing_files: usize,
    /// The first records without a file (all of them: `imgbed fsck`).
    pub missing_sample: Vec<String>,
}

/// Shared status of the background reconciliation.
#[derive(Debug)]
pub struct Status(Mutex<Phase>);

impl Default for Status {
    fn default() -> Self {
        Status(Mutex::new(Phase::Pending))
    }
}

impl Status {
    pub fn get(&self) -> Phase {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn set(&self, phase: Phase) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = phase;
    }
}

/// The part before serving: this host's temp files and interrupted blob writes (never
/// answered: nothing is in flight yet), half-done removals and deletes.
pub async fn before_serving(stores: &Stores<'_>, temp: &TempArea) -> anyhow::Result<Report> {
    let temp_files_removed = temp.clear()?;
    let mut part_files_removed = stores.blobs.sweep().await?;
    for derived in [stores.thumbs, stores.variants].into_iter().flatten() {
        part_files_removed += derived.sweep().await?;
    }
    let removals_finished = stores.store.finish_removals().await?;
    let deletes_finished = stores.finish_deletes().await?;
    Ok(Report { temp_files_removed, part_files_removed, removals_finished, deletes_finished, ..Report::default() })
}

/// The part after the server is ready: quarantine, missing files, then per-owner counters
/// that can drift (MongoDB).
pub async fn after_ready(stores: &Stores<'_>, started: SystemTime, mut report: Report) -> anyhow::Result<Report> {
    let found = stores.find(Some(started)).await?;
    report.quarantined = stores.quarantine(&found).await?;
    stores.remove_variants(&found.orphan_variants).await?;
    report.variants_removed = found.orphan_variants.len();
    report.missing_files = found.missing_files.len() + found.restorable.len();
    report.missing_sample = found.missing_files.iter().chain(&found.restorable).take(20).cloned().collect();
    for q in &report.quarantined {
        tracing::warn!(file = %q, "a stored file had no record: moved to quarantine (imgbed fsck lists it)");
    }
    if report.missing_files > 0 {
        tracing::error!(
            count = report.missing_files,
            first = ?report.missing_sample,
            "records whose file is missing (kept; `imgbed fsck` lists them, `imgbed fsck --repair` deletes them)"
        );
    }
    if let Err(e) = stores.store.recount_usage().await {
        tracing::error!(error = %e, "recounting the per-owner counters failed (the next start tries again)");
    }
    Ok(report)
}
