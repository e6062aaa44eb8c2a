//! Where the server keeps things on disk, checked before anything is touched: the
//! image folder, thumbnail folder, database, config, secrets, logs, policy and cache
//! must not lie inside one another (a start-up sweep of one would reach the others),
//! and files that can hold secrets are private (0600).

use std::path::{Component, Path, PathBuf};

use super::Settings;

/// One place the server writes.
#[derive(Debug, Clone)]
pub struct Place {
    /// The config key (or file) it comes from, for messages.
    pub what: &'static str,
    pub path: PathBuf,
}

/// Replaces the file at `path` with `bytes`, readable by its owner only, whole or not at
/// all: written to a temp file beside it, synced, renamed into place, and the folder synced,
/// so the new name survives a power loss too (creating the folder if needed).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    // A temp file left by a crash keeps its mode through `open`: narrow it too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The absolute, normalised form of `p` (`.` and `..` resolved, symbolic links in the
/// part that exists followed), so two spellings of one folder compare equal.
pub fn normalise(p: &Path) -> PathBuf {
    let absolute = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(p)
    };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    // Follow links in the longest part that exists.
    let mut existing = out.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => break,
        }
        existing.pop();
    }
    let mut resolved = existing.canonicalize().unwrap_or(existing);
    resolved.extend(rest.iter().rev());
    resolved
}

/// Every place this configuration writes (files and folders).
pub fn places(s: &Settings) -> Vec<Place> {
    let c = &s.config;
    let mut out = vec![
        Place { what: "server.image_path", path: s.image_dir.clone() },
        Place { what: "secrets file", path: s.base_dir.join("secrets.json") },
        Place { what: "policy folder", path: s.base_dir.join("policy") },
        Place { what: "policy.cache_dir", path: s.cache_dir.clone() },
    ];
    if c.server.image_zip && c.database.blob == "local" {
        out.push(Place { what: "server.image_zip_path", path: s.thumb_dir.clone() });
    }
    if c.variants.enabled && c.database.blob == "local" {
        out.push(Place { what: "variants.path", path: s.variant_dir.clone() });
    }
    if c.database.engine == "sqlite" {
        out.push(Place { what: "database.sqlite", path: s.sqlite_path.clone() });
    }
    if c.log.files {
        out.push(Place { what: "log.dir", path: s.log_dir.clone() });
    }
    if let Some(f) = &s.config_file {
        out.push(Place { what: "config file", path: f.clone() });
    }
    out
}

/// Refuses a layout where one place is inside (or is) another: e.g. `image_path: "."`
/// would put the config, secrets and database among the images.
pub fn check(s: &Settings) -> Result<(), String> {
    let places: Vec<(Place, PathBuf)> = places(s)
        .into_iter()
        .map(|p| {
            let n = normalise(&p.path);
            (p, n)
        })
        .collect();
    let mut problems = Vec::new();
    for (i, (a, na)) in places.iter().enumerate() {
        for (b, nb) in &places[i + 1..] {
            let relation = if na == nb {
                "is the same place as"
            } else if na.starts_with(nb) {
                "is inside"
            } else if nb.starts_with(na) {
                "contains"
            } else {
                continue;
            };
            problems.push(format!("{} ({}) {relation} {} ({})", a.what, na.display(), b.what, nb.display()));
        }
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "unsafe storage layout — each must be a place of its own, or a start-up check of one would reach the other: {}",
            problems.join("; ")
        )),
    }
}

/// Files that may hold secrets: the config, the secrets file, the database and its WAL.
pub fn private_files(s: &Settings) -> Vec<PathBuf> {
    let mut out = vec![s.base_dir.join("secrets.json")];
    if let Some(f) = &s.config_file {
        out.push(f.clone());
    }
    if s.config.database.engine == "sqlite" {
        for suffix in ["", "-wal", "-shm"] {
            out.push(PathBuf::from(format!("{}{suffix}", s.sqlite_path.display())));
        }
    }
    out
}

/// The private files that others can read or write (mode wider than 0600), with their mode.
pub fn too_open(s: &Settings) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    private_files(s)
        .into_iter()
        .filter_map(|p| {
            let mode = std::fs::metadata(&p).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then_some((p, mode))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(image_path: &str, zip_path: &str) -> Settings {
        let mut c = crate::config::Config::default();
        c.server.image_path = image_path.into();
        c.server.image_zip = true;
        c.server.image_zip_path = zip_path.into();
        let mut s = crate::config::resolve(c, PathBuf::from("/srv/imgbed"));
        s.config_file = Some(PathBuf::from("/srv/imgbed/config.json"));
        s
    }

    #[test]
    fn default_layout_is_accepted() {
        assert_eq!(check(&settings("", "")), Ok(()));
    }

    #[test]
    fn overlapping_places_are_refused() {
        let e = check(&settings(".", "")).unwrap_err();
        assert!(e.contains("server.image_path") && e.contains("config file"), "{e}");
        let e = check(&settings("pics", "pics")).unwrap_err();
        assert!(e.contains("server.image_zip_path") && e.contains("is the same place as"), "{e}");
        let e = check(&settings("pics", "pics/../pics/thumbs")).unwrap_err();
        assert!(e.contains("contains"), "{e}");
    }
}
