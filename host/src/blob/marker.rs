//! The store marker: a small file (`.imgbed-store`) with a store id that a local image
//! folder gets when imgbed creates it; the database keeps the same id. If the database
//! holds records but the folder has no marker, the folder is not the one the records
//! were made in — an empty mount point, a wrong working directory — and start-up
//! refuses rather than judge files by it (and the other way round, see `storage`).

use std::io;
use std::path::Path;

/// The marker's file name (a dot-file: never a stored name).
pub const MARKER: &str = ".imgbed-store";

/// A fresh store id.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The store id in `dir`'s marker, if it has one.
pub fn read(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["imgbed_store"].as_str().map(str::to_string)
}

/// How many stored files (safe names, not dot-files) `dir` holds.
pub fn stored_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| e.file_name().to_str().is_some_and(crate::blob::is_safe_name))
            .count()
    })
}

/// Gives `dir` (which has no marker) a marker with store id `id` (or a new one) when it
/// is safe: when no record exists yet, or when the folder already holds one of the
/// `recorded` files (an install made before markers existed). Returns the id.
pub fn ensure(
    dir: &Path,
    has_records: bool,
    id: Option<&str>,
    recorded: impl FnOnce() -> Vec<String>,
) -> Result<String, String> {
    if has_records {
        let names = recorded();
        let holds_one = names.iter().any(|n| crate::blob::is_safe_name(n) && dir.join(n).is_file());
        if !holds_one {
            return Err(format!(
                "the image folder {} has no {MARKER} marker and none of the {} recorded files, but the database \
                 holds records: is the disk mounted, is this the right folder (server.image_path, --data-dir)? \
                 Refusing to start rather than treat every record as lost. If the files are really gone, \
                 `imgbed fsck` reports the records without files",
                dir.display(),
                names.len()
            ));
        }
    }
    let id = id.map_or_else(new_id, str::to_string);
    write(dir, &id).map_err(|e| format!("writing the store marker in {}: {e}", dir.display()))?;
    Ok(id)
}

/// Creates `dir` if needed and writes its marker (synced).
pub fn write(dir: &Path, id: &str) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let text = serde_json::json!({"imgbed_store": id, "created": created,
        "note": "Marks this folder as an imgbed store. Do not delete: without it, start-up refuses to run with existing records."});
    let tmp = dir.join(format!("{MARKER}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        io::Write::write_all(&mut f, format!("{text}\n").as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(MARKER))?;
    crate::blob::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_folder_gets_a_marker_and_a_folder_without_records_or_marker_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("images");
        let id = ensure(&dir, false, None, Vec::new).unwrap();
        assert_eq!(read(&dir), Some(id));
        let empty = root.path().join("mnt");
        std::fs::create_dir(&empty).unwrap();
        let e = ensure(&empty, true, None, || vec!["a.png".into()]).unwrap_err();
        assert!(e.contains("no .imgbed-store marker"), "{e}");
        assert!(read(&empty).is_none());
        // An older install: the folder holds a recorded file; the database's id is kept.
        std::fs::write(empty.join("a.png"), b"x").unwrap();
        assert_eq!(ensure(&empty, true, Some("abc"), || vec!["a.png".into()]), Ok("abc".to_string()));
        assert_eq!(read(&empty).as_deref(), Some("abc"));
        assert_eq!(stored_files(&empty), 1);
    }
}
