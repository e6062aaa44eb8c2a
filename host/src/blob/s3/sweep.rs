//! Objects no name points at: uploads that died between their object and their name
//! (on this host or another sharing the bucket). Once older than the grace period — no
//! host can still be about to name them — they are moved to quarantine (a pointer under
//! `quarantine/`), never deleted: `imgbed fsck --purge-quarantine` does that.

use std::collections::{HashMap, HashSet};
use std::io;

use super::{Pointer, S3Blobs};
use crate::blob::QUARANTINE;
use crate::clock::now;

/// Quarantines the unnamed objects older than the grace period; returns how many.
pub async fn quarantine_unpublished(store: &S3Blobs) -> io::Result<usize> {
    let cutoff = now() - store.grace.as_secs_f64();
    // Names and quarantine entries before objects: an upload finishing in between shows
    // as a young object with a name not yet listed, which the cutoff leaves alone.
    let names: HashSet<String> = store
        .list_under(&store.keys.names())
        .await?
        .into_iter()
        .filter_map(|(rel, _)| rel.strip_prefix("names/").map(str::to_string))
        .collect();
    let entries: Vec<String> = store.list_under(&store.keys.quarantine()).await?.into_iter().map(|(r, _)| r).collect();
    let mut by_name: HashMap<String, Vec<(String, f64, u64)>> = HashMap::new();
    for (rel, modified, size) in store.list_sized(&store.keys.objects()).await? {
        let Some((name, _id)) = rel.strip_prefix("objects/").and_then(|r| r.rsplit_once('/')) else { continue };
        by_name.entry(name.to_string()).or_default().push((rel.clone(), modified, size));
    }
    let mut moved = 0;
    for (name, objects) in by_name {
        let old: Vec<&(String, f64, u64)> = objects.iter().filter(|(_, modified, _)| *modified < cutoff).collect();
        if old.is_empty() {
            continue;
        }
        let entry_prefix = format!("{QUARANTINE}/{name}");
        let own_entries: Vec<&String> = entries.iter().filter(|e| e.starts_with(&entry_prefix)).collect();
        // The usual case, one object and its name: nothing to read.
        if objects.len() == 1 && names.contains(&name) && own_entries.is_empty() {
            continue;
        }
        let mut referenced = HashSet::new();
        if names.contains(&name) {
            if let Some(p) = store.pointer(&name).await? {
                referenced.insert(p.object);
            }
        }
        for entry in own_entries {
            if let Some(p) = store.pointer_at(&store.keys.entry(entry)).await? {
                referenced.insert(p.object);
            }
        }
        for (object, modified, size) in old {
            if referenced.contains(object) {
                continue;
            }
            let id = object.rsplit('/').next().unwrap_or_default();
            let entry = format!("{QUARANTINE}/{name}.unpublished.{id}");
            let pointer = Pointer { object: object.clone(), length: *size, created: *modified };
            match store.create_pointer(&store.keys.entry(&entry), &pointer).await {
                Ok(()) => {
                    tracing::warn!(object = %object, entry = %entry, "an object without a name: moved to quarantine");
                    moved += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(moved)
}
