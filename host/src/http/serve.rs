//! `GET /images/{name}`: stored files with their type, ETag, caching and byte ranges.

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::Shared;
use crate::blob::{BlobStore, Fetched, HotFiles, Located};
use crate::error::{ApiError, ApiResult, Code};

/// Sandboxes anything a browser might try to run from our origin.
const CSP: &str = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox";
const CACHE: &str = "public, max-age=31536000, immutable";
/// Files up to this size are read in one go (larger ones too when the cache keeps them)…
const STREAM_ABOVE: u64 = 1 << 20;
/// …but never more than this at once: larger files are streamed.
const MAX_ONE_READ: u64 = 16 << 20;

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
/// A variant asked of a policy that makes none is 501 (`variants_unsupported`).
#[utoipa::path(get, path = "/images/{name}", params(("name" = String, Path), ("w" = Option<u32>, Query, description = "a variant this many pixels wide at most (one of variants.widths; never enlarged)"), ("format" = Option<String>, Query, description = "a variant in this format: jpeg, png, webp (lossless) or auto (from Accept; the answer varies by it)")), responses((status = 200, description = "the file (or variant), with its real type", content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp"))), (status = 206, description = "a byte range", content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp"))), (status = 304, description = "not modified"), crate::http::schema::BadInput, crate::http::schema::NotFound, crate::http::schema::RangeNotSatisfiable, crate::http::schema::RefusedContent, crate::http::schema::RateLimited, crate::http::schema::PolicyFailure, crate::http::schema::NotImplemented, crate::http::schema::Unavailable))]
pub async fn image(
    State(state): State<Shared>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !crate::blob::is_safe_name(&name) {
        return Err(ApiError::of(Code::NotFound));
    }
    // A bad variant request is refused before the record is even read.
    let query = match uri.query() {
        Some(_) => super::query_map(&uri)?,
        None => Default::default(),
    };
    let record = state.store.get(&name).await?.ok_or_else(|| ApiError::of(Code::NotFound))?;
    if let Some(asked) = super::variant::asked(&state, &record, &query, &headers)? {
        let client = state.ip_filter.client_or_peer(peer.ip(), &headers);
        return variant(&state, &record, asked, client, &headers).await;
    }
    if state.settings.config.database.s3.redirect {
        if let Some(url) = state.blobs.public_url(record.blob()).await? {
            // The bucket or CDN serves it, with the type and disposition stored with the object.
            let location = HeaderValue::from_str(&url).map_err(|_| ApiError::of(Code::NotFound))?;
            return Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response());
        }
    }
    let tag = &record.digest[..record.digest.len().min(32)];
    // The record locates the file: with its key, one request to the store.
    let file = File {
        store: state.blobs.as_ref(),
        blob: record.blob(),
        filename: &name,
        tag,
        digest: Some(&record.digest),
        immutable: false,
        mime: &record.mime,
    };
    send(&state.hot, file, format!("\"{tag}\""), &headers).await
}

/// `GET /thumbs/{name}`: the PNG thumbnail of a stored image (`{image name}.png`).
#[utoipa::path(get, path = "/thumbs/{name}", params(("name" = String, Path)), responses((status = 200, description = "the thumbnail", content((Vec<u8> = "image/png"))), (status = 206, description = "a byte range", content((Vec<u8> = "image/png"))), (status = 304, description = "not modified"), crate::http::schema::NotFound, crate::http::schema::RangeNotSatisfiable, crate::http::schema::RateLimited))]
pub async fn thumb(State(state): State<Shared>, Path(name): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let thumbs = state.thumbs.as_ref().ok_or_else(|| ApiError::of(Code::NotFound))?;
    if !crate::blob::is_safe_name(&name) {
        return Err(ApiError::of(Code::NotFound));
    }
    let image = name.strip_suffix(".png").ok_or_else(|| ApiError::of(Code::NotFound))?;
    let record = state.store.get(image).await?.ok_or_else(|| ApiError::of(Code::NotFound))?;
    let tag = &record.digest[..record.digest.len().min(32)];
    // Not cached: nothing but the image's record names a thumbnail's bytes.
    let file = File {
        store: thumbs.as_ref(),
        blob: Located::by_name(&name),
        filename: &name,
        tag,
        digest: None,
        immutable: false,
        mime: "image/png",
    };
    send(&state.hot, file, format!("\"t{tag}\""), &headers).await
}

/// Serves the variant `asked` of `record` for `client`.
async fn variant(
    state: &Shared,
    record: &crate::store::ImageRecord,
    asked: crate::variants::Asked,
    client: std::net::IpAddr,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let variants = state.variants.as_ref().ok_or_else(|| ApiError::of(Code::VariantNotAllowed))?;
    let spec = asked.spec;
    let tag = format!("v{}-{}-{}", &record.digest[..record.digest.len().min(24)], spec.width, spec.format.name());
    // A client holding this variant needs no file: not even one evicted since.
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    let key = match variants.cached(record, spec).await? {
        Some(key) => key,
        None if fresh.is_some_and(|inm| etag_matches(inm, &format!("\"{tag}\""))) => {
            crate::variants::spec::key(&record.name, &record.digest, spec)
        }
        None => {
            // The policy is asked when a variant is to be made; a made one is served like
            // the original, to anyone with the link.
            use crate::policy::{facts, Action, Facts};
            if !state.policy.active().makes_variants() {
                return Err(ApiError::of(Code::VariantsUnsupported));
            }
            let about = Facts { owner: Some(record.owner.clone()), image: Some(record.name.clone()), ..facts() };
            super::authorize(state, Action::ImageVariant, &crate::auth::anonymous(), about).await?;
            variants.get(record, spec, Some(client)).await?
        }
    };
    let stem = record.name.rsplit_once('.').map_or(record.name.as_str(), |(s, _)| s);
    let filename = format!("{stem}.w{}.{}", spec.width, spec.format.extension());
    let file = File {
        store: variants.store.as_ref(),
        blob: Located::by_name(&key),
        filename: &filename,
        tag: &tag,
        digest: None,
        immutable: true,
        mime: spec.format.mime(),
    };
    let mut res = send(&state.hot, file, format!("\"{tag}\""), headers).await?;
    if asked.negotiated {
        res.headers_mut().append(header::VARY, HeaderValue::from_static("Accept"));
    }
    Ok(res)
}

/// A stored file to answer with.
struct File<'a> {
    store: &'a dyn BlobStore,
    /// Where it is in `store` (its name is its key in the hot-file cache).
    blob: Located<'a>,
    /// The name the client is told (`Content-Disposition`).
    filename: &'a str,
    /// The digest prefix of the record that names it (a cached copy must carry the same).
    tag: &'a str,
    /// The whole SHA-256 (hex) of the bytes, when the record says what they are: only then
    /// may they be cached, and only once the bytes read are checked against it (the file
    /// under a name can change between reading the record and reading the file).
    digest: Option<&'a str>,
    /// Bytes that never change under this name (a variant: its name holds the image's
    /// digest): cached without a digest to check them against.
    immutable: bool,
    mime: &'a str,
}

/// The file's bytes when they are small (from memory when they are hot), else its length.
/// `ranged`: the client wants part of the file; on a miss only that part is read.
async fn contents(hot: &HotFiles, file: &File<'_>, ranged: bool) -> ApiResult<Fetched> {
    let cacheable = file.digest.is_some() || file.immutable;
    let cached = cacheable.then(|| hot.get(file.blob.name, file.tag)).flatten();
    if let Some(bytes) = cached {
        return Ok(Fetched::Small(bytes));
    }
    let small = if ranged { 0 } else { hot.max_file().clamp(STREAM_ABOVE, MAX_ONE_READ) };
    let fetched = file.store.fetch_located(file.blob, small).await?.ok_or_else(|| ApiError::of(Code::NotFound))?;
    if let Fetched::Small(bytes) = &fetched {
        let checked = match file.digest {
            Some(digest) => hex::encode(Sha256::digest(bytes)) == digest,
            None => file.immutable,
        };
        if checked && hot.keeps(bytes.len() as u64) {
            hot.put(file.blob.name, file.tag, bytes.clone());
        }
    }
    Ok(fetched)
}

/// Sends a stored file with its type, validators, caching and byte ranges.
async fn send(hot: &HotFiles, file: File<'_>, etag: String, headers: &HeaderMap) -> ApiResult<Response> {
    let mut res_headers = HeaderMap::with_capacity(10);
    res_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    res_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    res_headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res_headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{}\"", file.filename)) {
        res_headers.insert(header::CONTENT_DISPOSITION, v);
    }
    res_headers.insert(header::ETAG, HeaderValue::from_str(&etag).map_err(|_| ApiError::internal())?);

    // The record names the bytes: a matching validator needs no file access at all.
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        if etag_matches(inm, &etag) {
            return Ok((StatusCode::NOT_MODIFIED, res_headers).into_response());
        }
    }
    // If-Range with another validator means the client's copy is stale: send it all.
    let range_ok = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|v| v.trim() == etag);
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| range_ok);
    let fetched = contents(hot, &file, range.is_some()).await?;
    let len = match &fetched {
        Fetched::Small(b) => b.len() as u64,
        Fetched::Large(n) => *n,
    };
    if let Ok(v) = HeaderValue::from_str(file.mime) {
        res_headers.insert(header::CONTENT_TYPE, v);
    }

    let ask = match range {
        Some(v) => parse_range(v, len),
        None => RangeAsk::Whole,
    };
    let (status, range) = match ask {
        RangeAsk::Whole => (StatusCode::OK, ByteRange { start: 0, end: len.saturating_sub(1) }),
        RangeAsk::Part(r) => {
            let v = format!("bytes {}-{}/{len}", r.start, r.end);
            res_headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&v).map_err(|_| ApiError::internal())?);
            (StatusCode::PARTIAL_CONTENT, r)
        }
        RangeAsk::Unsatisfiable => {
            res_headers.remove(header::CONTENT_TYPE);
            let v = format!("bytes */{len}");
            res_headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&v).map_err(|_| ApiError::internal())?);
            let mut res = ApiError::of(Code::RangeNotSatisfiable).into_response();
            res.headers_mut().extend(res_headers);
            return Ok(res);
        }
    };
    let n = if len == 0 { 0 } else { range.end - range.start + 1 };
    res_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    let body = match fetched {
        Fetched::Small(bytes) if n == 0 => Body::from(bytes.slice(0..0)),
        Fetched::Small(bytes) => Body::from(bytes.slice(range.start as usize..=range.end as usize)),
        // Gone since it was looked up (deleted meanwhile, or a record whose file is missing).
        Fetched::Large(_) => {
            Body::from_stream(file.store.read_located(file.blob, range.start, n).await.map_err(ApiError::from_read)?)
        }
    };
    Ok((status, res_headers, body).into_response())
}
