//! A stored image as answers show it: the record's facts ([`ImageFacts`], declared once
//! with the record) plus links. The OpenAPI schema is derived from these types, so
//! answers, storage and documentation cannot drift apart. The owner is never shown.

use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::store::{ImageFacts, ImageRecord};

/// A stored image as answers show it: the record's facts, then its links.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImageView {
    #[serde(flatten)]
    pub facts: ImageFacts,
    /// Where the image is served (`server.image_url`, else `{public_url}/images/{name}`;
    /// with `database.s3.public_links`, its object at `database.s3.public_url`).
    pub url: String,
    /// URL path (`/images/{name}`), never a server path.
    pub path: String,
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
            facts: r.facts.clone(),
            url: state.image_url(r),
            path: format!("/images/{}", r.name),
            thumb_url: state.thumb_url(r).await,
            srcset: super::variant::srcset(state, r),
            duplicate: None,
            delete_url: None,
        }
    }
}
