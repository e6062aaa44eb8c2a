//! The record of a stored image, declared once: [`ImageFacts`] are what answers show
//! (the OpenAPI schema of `http::view::ImageView` embeds them) and what both engines
//! keep under the same field names (MongoDB through serde); [`ImageRecord`] adds what
//! only the server sees.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The public facts of one stored image or video. Holds names, never URLs or server
/// paths: URLs are computed per answer from the configured base URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImageFacts {
    /// Stored name (unique, path-safe, checked by the host).
    pub name: String,
    /// Receive time, seconds since the epoch (the original's `time`).
    pub time: f64,
    /// Size in bytes of the stored file.
    pub size: u64,
    /// "image", "animation" or "video".
    pub kind: String,
    /// Format as the policy found it, e.g. "png".
    pub format: String,
    /// MIME type served.
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// SHA-256 of the stored bytes (lower-case hex).
    pub digest: String,
    /// The client's file name (untrusted; only ever shown back, never used as a path).
    pub original_name: String,
    /// Length of a video or animation, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Video codec, e.g. "h264" (videos only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

/// One stored image or video: its facts, and what only the server sees. Reads of the
/// facts go through `Deref` (`record.name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    #[serde(flatten)]
    pub facts: ImageFacts,
    /// Owner id (the principal that uploaded it). Never shown.
    pub owner: String,
    /// SHA-256 (hex) of the image's deletion key (its deletion link); `None` for records
    /// made before deletion links. Never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_key: Option<String>,
    /// Where the blob store put the file, for a store that keeps each file under a key of
    /// its own (S3: the object's key below the store's prefix), so a read goes straight
    /// to it; `None` for the other stores and for records made before keys. Never shown
    /// (only as part of a public link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_key: Option<String>,
    /// Whether a thumbnail was stored with the file; `None` for records made before this
    /// was recorded (the thumbnail store is asked). Lets a listing link thumbnails
    /// without asking the store once per image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<bool>,
}

impl std::ops::Deref for ImageRecord {
    type Target = ImageFacts;
    fn deref(&self) -> &ImageFacts {
        &self.facts
    }
}

impl std::ops::DerefMut for ImageRecord {
    fn deref_mut(&mut self) -> &mut ImageFacts {
        &mut self.facts
    }
}

impl ImageRecord {
    /// A record of `facts` owned by `owner`, with nothing else known yet.
    pub fn new(facts: ImageFacts, owner: String) -> Self {
        ImageRecord { facts, owner, delete_key: None, blob_key: None, thumb: None }
    }

    /// The record's file as the blob store is asked for it.
    pub fn blob(&self) -> crate::blob::Located<'_> {
        crate::blob::Located { name: &self.name, key: self.blob_key.as_deref(), size: self.size }
    }
}
