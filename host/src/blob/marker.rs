//! The store marker: a small file (`.imgbed-store`) that a local image folder gets
//! when imgbed creates it. If the database holds records but the folder has no
//! marker, the folder is not the one the records were made in — an empty mount point,
//! a wrong working directory — and start-up refuses rather than judge files by it.

use std::io;
use std::path::Path;

/// The marker's file name (a dot-file: never a stored name).
pub const MARKER: &str = ".imgbed-store";

/// What to do about a folder's marker.
#[derive(Debug, PartialEq, Eq)]
pub enum Marker {
    /// The folder has its marker.
    Present,
    /// Written now: a new store, or an older install's folder that holds recorded files.
    Written,
}

/// Checks the marker of `dir`, creating the folder and marker when it is safe:
/// when no record exists yet (`recorded` is empty), or when the folder already holds
/// one of the recorded files (an install made before markers existed).
pub fn ensure(dir: &Path, has_records: bool, recorded: impl FnOnce() -> Vec<String>) -> Result<Marker, String> {
    let marker = dir.join(MARKER);
    if marker.is_file() {
        return Ok(Marker::Present);
    }
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
    write(dir).map_err(|e| format!("writing the store marker {}: {e}", marker.display()))?;
    Ok(Marker::Written)
}

/// Creates `dir` if needed and writes its marker (synced).
pub fn write(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let id = format!("{:032x}", rand::random::<u128>());
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
        assert_eq!(ensure(&dir, false, Vec::new), Ok(Marker::Written));
        assert_eq!(ensure(&dir, true, Vec::new), Ok(Marker::Present));
        let empty = root.path().join("mnt");
        std::fs::create_dir(&empty).unwrap();
        let e = ensure(&empty, true, || vec!["a.png".into()]).unwrap_err();
        assert!(e.contains("no .imgbed-store marker"), "{e}");
        assert!(!empty.join(MARKER).exists());
        // An older install: the folder holds a recorded file.
        std::fs::write(empty.join("a.png"), b"x").unwrap();
        assert_eq!(ensure(&empty, true, || vec!["a.png".into()]), Ok(Marker::Written));
    }
}
