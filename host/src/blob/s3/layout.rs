//! Where things go in the bucket, under the configured prefix and the store's own part
//! (`images/`, `thumbs/`):
//!
//! - `objects/{name}/{id}`: the bytes of one stored blob, under a key no other write ever
//!   uses (a random 128-bit id), so an object is never overwritten — S3's multipart
//!   upload cannot refuse to replace an existing key;
//! - `names/{name}`: a small pointer naming the object that holds `name`. It is created
//!   only if absent (`If-None-Match: *`), after its object is complete: a blob is visible
//!   whole or not at all, and two hosts racing for one name cannot both win;
//! - `quarantine/{entry}`: pointers moved out of the way, with their objects kept.

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::blob::QUARANTINE;

/// The pointer stored at `names/{name}` (and, moved, at `quarantine/{entry}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pointer {
    /// The object's key below the store's part (`objects/{name}/{id}`).
    pub object: String,
    /// Bytes in the object.
    pub length: u64,
    /// When the blob was stored, seconds since the epoch by the storing host's clock
    /// (what a pending delete's time is compared with, as for the other stores).
    pub created: f64,
}

/// The keys of one store (images or thumbnails) in the bucket.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `{prefix}{part}/`, e.g. "imgbed/images/".
    base: String,
}

impl Layout {
    pub fn new(prefix: &str, part: &str) -> Self {
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('/') => p.to_string(),
            p => format!("{p}/"),
        };
        Layout { base: format!("{prefix}{part}/") }
    }

    fn path(&self, rest: &str) -> Path {
        Path::from(format!("{}{rest}", self.base))
    }

    pub fn name(&self, name: &str) -> Path {
        self.path(&format!("names/{name}"))
    }

    pub fn names(&self) -> Path {
        self.path("names")
    }

    /// A fresh object key for `name` (relative, as the pointer keeps it).
    pub fn new_object(name: &str) -> String {
        format!("objects/{name}/{:032x}", rand::random::<u128>())
    }

    /// Whether `key` is an object key [`Layout::new_object`] made for `name`.
    pub fn is_object_of(name: &str, key: &str) -> bool {
        let id = key.strip_prefix("objects/").and_then(|k| k.strip_prefix(name)).and_then(|k| k.strip_prefix('/'));
        id.is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    }

    pub fn object(&self, relative: &str) -> Path {
        self.path(relative)
    }

    pub fn objects(&self) -> Path {
        self.path("objects")
    }

    /// The pointer of a quarantine entry (`quarantine/…`, as the trait names it).
    pub fn entry(&self, entry: &str) -> Path {
        self.path(entry)
    }

    pub fn quarantine(&self) -> Path {
        self.path(QUARANTINE)
    }

    /// The store marker (see `marker.rs`).
    pub fn marker(&self) -> Path {
        self.path(".imgbed-store")
    }

    /// The readiness probe's object.
    pub fn probe(&self) -> Path {
        self.path(".probe")
    }

    /// `key` relative to this store's part (`names/a.png`), if it is below it.
    pub fn relative<'a>(&self, key: &'a Path) -> Option<&'a str> {
        key.as_ref().strip_prefix(&self.base)
    }

    /// The public URL of an object below `public_url`.
    pub fn public_url(&self, public_url: &str, object: &str) -> String {
        format!("{}/{}{object}", public_url.trim_end_matches('/'), self.base)
    }
}

/// The content type and disposition an object is stored with: a type the host checked
/// is shown inline, anything else is a download (a browser sent to the bucket directly
/// never runs or sniffs it as a page).
pub fn headers_for(name: &str, mime: Option<&str>) -> (String, String) {
    const INLINE: &[&str] = &[
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/ogg",
    ];
    match mime {
        Some(m) if INLINE.contains(&m) => (m.to_string(), format!("inline; filename=\"{name}\"")),
        _ => ("application/octet-stream".to_string(), format!("attachment; filename=\"{name}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_under_the_prefix_and_part() {
        let l = Layout::new("imgbed", "images");
        assert_eq!(l.name("a.png").as_ref(), "imgbed/images/names/a.png");
        assert_eq!(l.entry("quarantine/a.png.1").as_ref(), "imgbed/images/quarantine/a.png.1");
        let o = Layout::new_object("a.png");
        assert!(o.starts_with("objects/a.png/") && o.len() == "objects/a.png/".len() + 32);
        assert_ne!(o, Layout::new_object("a.png"), "every object key is new");
        assert!(Layout::is_object_of("a.png", &o));
        assert!(!Layout::is_object_of("b.png", &o), "another name's object");
        assert!(!Layout::is_object_of("a.png", "objects/a.png/../../.imgbed-store"));
        assert!(!Layout::is_object_of("a.png", "names/a.png"));
        assert_eq!(l.relative(&l.name("b.gif")), Some("names/b.gif"));
        assert_eq!(Layout::new("", "thumbs").name("x").as_ref(), "thumbs/names/x");
        assert_eq!(headers_for("a.png", Some("image/png")).1, "inline; filename=\"a.png\"");
        assert_eq!(headers_for("a.svg", Some("image/svg+xml")).0, "application/octet-stream");
        assert!(headers_for("a", None).1.starts_with("attachment"));
    }
}
