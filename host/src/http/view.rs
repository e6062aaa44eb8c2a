//! A stored image as answers show it: the record's public fields plus links. The
//! OpenAPI schema is derived from this type, so answers and documentation cannot
//! drift apart. The owner's mail address is never shown.

use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::store::ImageRecord;

/// A stored image as answers show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImageView {
    pub name: String,
    /// Where the image is served (`server.image_url`, else `{public_url}/images/{name}`;
    /// with `database.s3.public_links`, its object at `database.s3.public_url`).
    pub url: String,
    /// URL path (`/images/{name}`), never a server path.
    pub path: String,
    /// Receive time, seconds since the epoch.
    pub time: f64,
    pub size: u64,
    /// "image", "animation" or "video".
    pub kind: String,
    pub format: String,
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// SHA-256 of the stored bytes (hex).
    pub digest: String,
    /// The client's file name (only ever shown back).
    pub original_name: String,
    /// Length of a video or animation, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Video codec, e.g. "h264" (videos only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// The thumbnail's URL, when the image has one (`server.image_zip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
    /// Variants of the image at the allowed widths below its own, then the original, as
    /// an `<img srcset>` value (images, with variants on): `{url}?w=320&format=auto 320w, …`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srcset: Option<String>,
    /// In upload answers: whether the same bytes were already stored for this owner (the
    /// existing record is answered, nothing new is stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// In upload answers: the image's deletion link (`/delete/{name}?key=…`): opening it
    /// shows a confirmation page, confirming deletes this one image. Given once: uploading
    /// the same bytes again gives a new link, and the earlier one stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_url: Option<String>,
}

impl ImageView {
    /// The view of `r`, with its links.
    pub async fn of(state: &AppState, r: &ImageRecord) -> Self {
        ImageView {
            name: r.name.clone(),
            url: state.image_url(r),
            path: format!("/images/{}", r.name),
            time: r.time,
            size: r.size,
            kind: r.kind.clone(),
            format: r.format.clone(),
            mime: r.mime.clone(),
            width: r.width,
            height: r.height,
            frames: r.frames,
            digest: r.digest.clone(),
            original_name: r.original_name.clone(),
            duration_ms: r.duration_ms,
            codec: r.codec.clone(),
            thumb_url: state.thumb_url(r).await,
            srcset: super::variant::srcset(state, r),
            duplicate: None,
            delete_url: None,
        }
    }
}
