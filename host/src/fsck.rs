//! `imgbed fsck`: the operator's look at files and records, and the only way anything
//! the server did not delete on a request gets deleted. A dry run by default; it
//! prints what it finds and what it does (or would do).

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::blob::thumb_name;
use crate::config::Settings;
use crate::reconcile::{Findings, Stores};
use crate::Storage;

/// What the operator asked for.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Act: finish pending deletes and removals, move back quarantined files whose record
    /// exists, quarantine files without records, delete records whose file is missing.
    pub repair: bool,
    /// Delete what is in quarantine.
    pub purge_quarantine: bool,
    /// Files younger than this are left alone (an upload may be storing them).
    pub min_age: Duration,
}

/// What fsck found and did.
#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    #[serde(flatten)]
    pub found: Findings,
    /// Each action, in order ("would …" in a dry run).
    pub actions: Vec<String>,
}

/// Runs fsck on `storage`.
pub async fn run(settings: &Settings, storage: &Storage, options: Options) -> anyhow::Result<Report> {
    let stores = Stores::new(storage.store.as_ref(), storage.blobs.as_ref(), storage.thumbs.as_deref(), settings)
        .with_variants(storage.variants.as_deref());
    let started = SystemTime::now().checked_sub(options.min_age);
    let found = stores.find(started).await?;
    let dry_run = !options.repair && !options.purge_quarantine;
    let mut actions = Vec::new();
    let verb = |act: &str, dry: &str| if dry_run { dry.to_string() } else { act.to_string() };
    if options.repair || dry_run {
        for name in &found.pending_deletes {
            actions.push(format!("{} the files of deleted record {name}", verb("removed", "would remove")));
        }
        for name in found.unrecorded_files.iter().chain(&found.unrecorded_thumbnails) {
            actions.push(format!("{} {name} (no record) to quarantine", verb("moved", "would move")));
        }
        for name in &found.restorable {
            actions.push(format!("{} {name} from quarantine (its record exists)", verb("restored", "would restore")));
        }
        for name in &found.missing_files {
            actions.push(format!("{} the record {name} (its file is missing)", verb("deleted", "would delete")));
        }
        for key in &found.orphan_variants {
            actions.push(format!("{} the variant {key} (its image has no record)", verb("removed", "would remove")));
        }
    }
    if options.purge_quarantine || dry_run {
        for entry in &found.quarantined {
            let act = if dry_run { "--purge-quarantine would delete" } else { "deleted" };
            actions.push(format!("{act} {entry}"));
        }
    }
    if options.repair {
        storage.store.finish_removals().await?;
        // Counters that can be a record off after a crash (MongoDB) are set from the records.
        storage.store.recount_usage().await?;
        stores.finish_deletes().await?;
        stores.restore(&found).await?;
        stores.quarantine(&found).await?;
        stores.remove_variants(&found.orphan_variants).await?;
        for name in &found.missing_files {
            // Checked again: the file may have come back (a store mounted late).
            if storage.blobs.size(name).await?.is_some() {
                continue;
            }
            if storage.store.delete_images(std::slice::from_ref(name)).await?.is_empty() {
                continue;
            }
            if let Some(thumbs) = &storage.thumbs {
                thumbs.remove(&thumb_name(name)).await?;
            }
            storage.store.clear_pending(name).await?;
        }
    }
    if options.purge_quarantine {
        for entry in &found.quarantined {
            match entry.strip_prefix("thumbs/") {
                Some(thumb) => match &storage.thumbs {
                    Some(thumbs) => thumbs.purge_quarantined(thumb).await?,
                    None => continue,
                },
                None => storage.blobs.purge_quarantined(entry).await?,
            }
        }
    }
    Ok(Report { dry_run, found, actions })
}
