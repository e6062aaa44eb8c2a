//! `GET /images/{name}`: stored files with their type, ETag, caching and byte ranges.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::blob::BlobStore;
use crate::error::{ApiError, ApiResult, Code};

/// Sandboxes anything a browser might try to run from our origin.
const CSP: &str = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox";
const CACHE: &str = "public, max-age=31536000, immutable";

/// A satisfiable byte range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAsk {
    /// No usable range: send the whole file.
    Whole,
    /// One satisfiable range.
    Part(ByteRange),
    /// Nothing satisfiable: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range. Several ranges are answered with the whole file.
pub fn parse_range(value: &str, len: u64) -> RangeAsk {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // Suffix: the last N bytes.
        let Ok(n) = b.parse::<u64>() else {
            return RangeAsk::Whole;
        };
        if n == 0 || len == 0 {
            return RangeAsk::Unsatisfiable;
        }
        ByteRange { start: len.saturating_sub(n), end: len - 1 }
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return RangeAsk::Whole;
        };
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return RangeAsk::Whole,
            }
        };
        if start >= len {
            return RangeAsk::Unsatisfiable;
        }
        ByteRange { start, end }
    };
    RangeAsk::Part(range)
}

fn etag_matches(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// `GET /images/{name}`.
#[utoipa::path(get, path = "/images/{name}", params(("name" = String, Path)), responses((status = 200, description = "the file, with its real type", content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp"))), (status = 206, description = "a byte range", content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp"))), (status = 304, description = "not modified"), (status = 404, description = "not found", body = super::schema::ErrorBody), (status = 416, description = "range not satisfiable", body = super::schema::ErrorBody), (status = 429, description = "rate limited", body = super::schema::ErrorBody)))]
pub async fn image(State(state): State<Shared>, Path(name): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    if !crate::blob::is_safe_name(&name) {
        return Err(ApiError::of(Code::NotFound));
    }
    let record = state.store.get(&name).await.map_err(ApiError::from)?.ok_or_else(|| ApiError::of(Code::NotFound))?;
    let etag = format!("\"{}\"", &record.digest[..record.digest.len().min(32)]);
    send(state.blobs.as_ref(), &name, &record.mime, &etag, &headers).await
}

/// `GET /thumbs/{name}`: the PNG thumbnail of a stored image (`{image name}.png`).
#[utoipa::path(get, path = "/thumbs/{name}", params(("name" = String, Path)), responses((status = 200, description = "the thumbnail", content((Vec<u8> = "image/png"))), (status = 206, description = "a byte range", content((Vec<u8> = "image/png"))), (status = 304, description = "not modified"), (status = 404, description = "not found", body = super::schema::ErrorBody), (status = 416, description = "range not satisfiable", body = super::schema::ErrorBody), (status = 429, description = "rate limited", body = super::schema::ErrorBody)))]
pub async fn thumb(State(state): State<Shared>, Path(name): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let thumbs = state.thumbs.as_ref().ok_or_else(|| ApiError::of(Code::NotFound))?;
    if !crate::blob::is_safe_name(&name) {
        return Err(ApiError::of(Code::NotFound));
    }
    let image = name.strip_suffix(".png").ok_or_else(|| ApiError::of(Code::NotFound))?;
    let record = state.store.get(image).await.map_err(ApiError::from)?.ok_or_else(|| ApiError::of(Code::NotFound))?;
    let etag = format!("\"t{}\"", &record.digest[..record.digest.len().min(32)]);
    send(thumbs.as_ref(), &name, "image/png", &etag, &headers).await
}

/// Sends a stored file with its type, validators, caching and byte ranges.
async fn send(
    blobs: &dyn BlobStore,
    filename: &str,
    mime: &str,
    etag: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let len = blobs.size(filename).await?.ok_or_else(|| ApiError::of(Code::NotFound))?;
    let mut res_headers = HeaderMap::new();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(&mut res_headers, header::ETAG, etag);
    set(&mut res_headers, header::CACHE_CONTROL, CACHE);
    set(&mut res_headers, header::ACCEPT_RANGES, "bytes");
    set(&mut res_headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut res_headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(&mut res_headers, header::CONTENT_DISPOSITION, &format!("inline; filename=\"{filename}\""));

    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        if etag_matches(inm, etag) {
            return Ok((StatusCode::NOT_MODIFIED, res_headers).into_response());
        }
    }
    set(&mut res_headers, header::CONTENT_TYPE, mime);

    // If-Range with another validator means the client's copy is stale: send it all.
    let range_ok = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|v| v.trim() == etag);
    let ask = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) if range_ok => parse_range(v, len),
        _ => RangeAsk::Whole,
    };
    match ask {
        RangeAsk::Whole => {
            set(&mut res_headers, header::CONTENT_LENGTH, &len.to_string());
            let body = Body::from_stream(blobs.read(filename, 0, len).await?);
            Ok((StatusCode::OK, res_headers, body).into_response())
        }
        RangeAsk::Part(r) => {
            let n = r.end - r.start + 1;
            set(&mut res_headers, header::CONTENT_LENGTH, &n.to_string());
            set(&mut res_headers, header::CONTENT_RANGE, &format!("bytes {}-{}/{len}", r.start, r.end));
            let body = Body::from_stream(blobs.read(filename, r.start, n).await?);
            Ok((StatusCode::PARTIAL_CONTENT, res_headers, body).into_response())
        }
        RangeAsk::Unsatisfiable => {
            res_headers.remove(header::CONTENT_TYPE);
            set(&mut res_headers, header::CONTENT_RANGE, &format!("bytes */{len}"));
            let mut res = ApiError::of(Code::RangeNotSatisfiable).into_response();
            res.headers_mut().extend(res_headers);
            Ok(res)
        }
    }
}
