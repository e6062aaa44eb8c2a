//! `GET /images/{name}?w=640&format=webp|jpeg|png|auto`: a variant of a stored image,
//! from the variant cache or made once in the sandbox, answered like an original
//! (ETag, ranges, caching); `format=auto` varies by `Accept`.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

use super::serve::{send, File};
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

/// Serves the variant `asked` of `record` for `client`.
pub async fn serve(
    state: &Shared,
    record: &ImageRecord,
    asked: Asked,
    client: IpAddr,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let variants = state.variants.as_ref().ok_or_else(|| ApiError::of(Code::VariantNotAllowed))?;
    let spec = asked.spec;
    let key = variants.get(record, spec, Some(client)).await?;
    let tag = format!("v{}-{}-{}", &record.digest[..record.digest.len().min(24)], spec.width, spec.format.name());
    let stem = record.name.rsplit_once('.').map_or(record.name.as_str(), |(s, _)| s);
    let filename = format!("{stem}.w{}.{}", spec.width, spec.format.extension());
    let file = File {
        store: variants.store.as_ref(),
        name: &key,
        filename: &filename,
        tag: &tag,
        digest: None,
        mime: spec.format.mime(),
    };
    let mut res = send(&state.hot, file, format!("\"{tag}\""), headers).await?;
    if asked.negotiated {
        res.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    }
    Ok(res)
}

/// `srcset` for a stored image: every allowed width below its own, then its own width
/// (the original), in `format` or, with none, the default format for the image.
pub fn srcset(state: &crate::app::AppState, record: &ImageRecord) -> Option<String> {
    let v = &state.settings.config.variants;
    if !v.enabled || record.kind == "video" || state.variants.is_none() {
        return None;
    }
    let url = state.settings.image_url(&record.name);
    let mut widths: Vec<u32> = v.widths.iter().copied().filter(|w| *w < record.width).collect();
    widths.sort_unstable();
    widths.dedup();
    let mut parts: Vec<String> = widths.iter().map(|w| format!("{url}?w={w}&format=auto {w}w")).collect();
    parts.push(format!("{url} {}w", record.width));
    Some(parts.join(", "))
}
