//! Files and records, reconciled without destroying anything.
//!
//! At start, before serving: temp files of this host's interrupted uploads are
//! removed (never acknowledged), half-done account removals and deletes are finished
//! (their records are already gone). After the server is ready, in the background:
//! a record whose file is missing is *reported* (log, `/readyz`, a metric), never
//! deleted; a file without a record is *moved to quarantine*, never deleted, and only
//! if it is old enough that no upload can still be between its file and its record.
//! Deleting either is the operator's explicit `imgbed fsck --repair`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::blob::{thumb_name, BlobStore, TempArea};
use crate::config::layout::normalise;
use crate::store::MetaStore;

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
    /// What is in quarantine already.
    pub quarantined: Vec<String>,
    /// Deletes whose record is gone and whose files may remain.
    pub pending_deletes: Vec<String>,
}

/// The stores to reconcile.
pub struct Stores<'a> {
    pub store: &'a dyn MetaStore,
    pub blobs: &'a dyn BlobStore,
    pub thumbs: Option<&'a dyn BlobStore>,
    /// The server's own files (config, secrets, database…): never touched, whatever the layout.
    pub protected: &'a [PathBuf],
}

impl Stores<'_> {
    /// Whether `name` in `store` is one of the server's own files.
    fn is_protected(&self, store: &dyn BlobStore, name: &str) -> bool {
        let Some(dir) = store.local_dir() else { return false };
        let path = normalise(&dir.join(name));
        self.protected.iter().any(|p| normalise(p) == path)
    }

    /// Looks at everything; a file counts as unrecorded only if it is older than
    /// `min_age` and than the store's grace period.
    pub async fn find(&self, started: Option<SystemTime>) -> anyhow::Result<Findings> {
        let mut f = Findings { pending_deletes: self.store.pending_deletes().await?, ..Findings::default() };
        // Records first, then files: an upload finishing in between shows as a young
        // file (left alone), never as a record without its file.
        let names: HashSet<String> = self.store.all_names().await?.into_iter().collect();
        let listed = self.blobs.list().await?;
        let oldest_new = min_age(self.blobs, started);
        let files: HashSet<&String> = listed.iter().map(|(n, _)| n).collect();
        for (name, age) in &listed {
            if names.contains(name) || self.is_protected(self.blobs, name) {
                continue;
            }
            if *age >= oldest_new {
                f.unrecorded_files.push(name.clone());
            } else {
                f.too_recent += 1;
            }
        }
        f.missing_files = names.iter().filter(|n| !files.contains(n)).cloned().collect();
        f.missing_files.sort();
        f.unrecorded_files.sort();
        f.quarantined = self.blobs.quarantined().await?;
        if let Some(thumbs) = self.thumbs {
            let wanted: HashSet<String> = names.iter().map(|n| thumb_name(n)).collect();
            let listed = thumbs.list().await?;
            let oldest_new = min_age(thumbs, started);
            for (name, age) in listed {
                if wanted.contains(&name) || self.is_protected(thumbs, &name) {
                    continue;
                }
                if age >= oldest_new {
                    f.unrecorded_thumbnails.push(name);
                } else {
                    f.too_recent += 1;
                }
            }
            f.unrecorded_thumbnails.sort();
            f.quarantined.extend(thumbs.quarantined().await?.into_iter().map(|q| format!("thumbs/{q}")));
        }
        Ok(f)
    }

    /// Removes the files of deletes whose records are gone (unless a new record took
    /// the name since), then forgets them. Returns how many were finished.
    pub async fn finish_deletes(&self) -> anyhow::Result<usize> {
        let pending = self.store.pending_deletes().await?;
        for name in &pending {
            if self.store.get(name).await?.is_none() {
                self.blobs.remove(name).await?;
                if let Some(thumbs) = self.thumbs {
                    thumbs.remove(&thumb_name(name)).await?;
                }
            }
            self.store.clear_pending(name).await?;
        }
        Ok(pending.len())
    }

    /// Moves what `found` lists as unrecorded into quarantine, checking each again first.
    pub async fn quarantine(&self, found: &Findings) -> anyhow::Result<Vec<String>> {
        let mut moved = Vec::new();
        for name in &found.unrecorded_files {
            if self.store.get(name).await?.is_none() {
                moved.push(self.blobs.quarantine(name).await?);
            }
        }
        if let Some(thumbs) = self.thumbs {
            for thumb in &found.unrecorded_thumbnails {
                let image = thumb.strip_suffix(".png").unwrap_or(thumb);
                if self.store.get(image).await?.is_none() {
                    moved.push(format!("thumbs/{}", thumbs.quarantine(thumb).await?));
                }
            }
        }
        Ok(moved)
    }
}

/// How old a file without a record must be to be judged: older than the store's grace
/// period and, when `started` is given, older than this process (a file made since may
/// belong to an upload between its file and its record). Taken after listing.
fn min_age(store: &dyn BlobStore, started: Option<SystemTime>) -> Duration {
    let running = started.and_then(|s| SystemTime::now().duration_since(s).ok()).unwrap_or_default();
    store.grace().max(running)
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
    pub unpublished_chunks_removed: usize,
    pub deletes_finished: usize,
    pub removals_finished: usize,
    pub quarantined: Vec<String>,
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

/// The part before serving: temp files, half-done removals and deletes.
pub async fn before_serving(stores: &Stores<'_>, temp: &TempArea) -> anyhow::Result<Report> {
    let temp_files_removed = temp.clear()?;
    let removals_finished = stores.store.finish_removals().await?;
    let deletes_finished = stores.finish_deletes().await?;
    Ok(Report { temp_files_removed, removals_finished, deletes_finished, ..Report::default() })
}

/// The part after the server is ready: unpublished chunks, quarantine, missing files.
pub async fn after_ready(stores: &Stores<'_>, started: SystemTime, mut report: Report) -> anyhow::Result<Report> {
    report.unpublished_chunks_removed = stores.blobs.sweep().await?;
    if let Some(thumbs) = stores.thumbs {
        report.unpublished_chunks_removed += thumbs.sweep().await?;
    }
    let found = stores.find(Some(started)).await?;
    report.quarantined = stores.quarantine(&found).await?;
    report.missing_files = found.missing_files.len();
    report.missing_sample = found.missing_files.iter().take(20).cloned().collect();
    for q in &report.quarantined {
        tracing::warn!(file = %q, "a stored file had no record: moved to quarantine (imgbed fsck lists it)");
    }
    if !found.missing_files.is_empty() {
        tracing::error!(
            count = found.missing_files.len(),
            first = ?report.missing_sample,
            "records whose file is missing (kept; `imgbed fsck` lists them, `imgbed fsck --repair` deletes them)"
        );
    }
    Ok(report)
}
