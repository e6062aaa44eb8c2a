//! `GET /images/{name}?w=640&format=webp|jpeg|png|auto`: a variant of a stored image,
//! from the variant cache or made once in the sandbox, answered like an original
//! (ETag, ranges, caching: `serve`); `format=auto` varies by `Accept`. Here: what a
//! request asks for, and the `srcset` answers offer.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};

use super::Shared;
use crate::error::{ApiError, ApiResult, Code};
use crate::store::ImageRecord;
use crate::variants::{spec, Asked};

/// The variant a request asks for, if any (checked against the allow-lists: a 400 otherwise).
pub fn asked(
    state: &Shared,
    record: &ImageRecord,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Option<Asked>> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let Some(asked) = spec::parse(query, accept, &record.format, &state.settings.config.variants)? else {
        return Ok(None);
    };
    if record.kind == "video" {
        return Err(ApiError::of(Code::VariantNotAllowed).with_detail("videos have no variants"));
    }
    Ok(Some(asked))
}

/// `srcset` for a stored image: every allowed width below its own (`format=auto`, made
/// here), then its own width (the original, where its links point); None when no allowed
/// width is below its own.
pub fn srcset(state: &crate::app::AppState, record: &ImageRecord) -> Option<String> {
    let v = &state.settings.config.variants;
    if !v.enabled || record.kind == "video" || state.variants.is_none() {
        return None;
    }
    let url = state.settings.image_url(&record.name);
    let mut widths: Vec<u32> = v.widths.iter().copied().filter(|w| *w < record.width).collect();
    widths.sort_unstable();
    widths.dedup();
    if widths.is_empty() {
        // No allowed width below the image's own: nothing smaller to offer.
        return None;
    }
    let mut parts: Vec<String> = widths.iter().map(|w| format!("{url}?w={w}&format=auto {w}w")).collect();
    parts.push(format!("{} {}w", state.image_url(record), record.width));
    Some(parts.join(", "))
}
