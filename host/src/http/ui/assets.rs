//! The UI's files, embedded in the binary: one script, one style sheet, one icon.
//! Served with an ETag (and a version in the pages' links, so a new binary's files are
//! fetched at once).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Code};

/// Name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../../assets/ui/app.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_bytes!("../../../assets/ui/i18n.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../../assets/ui/app.css")),
    ("icon.svg", "image/svg+xml", include_bytes!("../../../assets/ui/icon.svg")),
];

/// A short hash of all the files: the pages link `app.js?v=…`.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, _, bytes) in FILES {
            h.update(name.as_bytes());
            h.update(bytes);
        }
        hex::encode(&h.finalize()[..6])
    })
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..12]))
}

/// `GET /ui/{file}`.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, ctype, bytes)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return ApiError::of(Code::NoRoute).into_response();
    };
    let tag = etag(bytes);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let status = if matches { StatusCode::NOT_MODIFIED } else { StatusCode::OK };
    let body = if matches { Vec::new() } else { bytes.to_vec() };
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    res
}

#[cfg(test)]
mod tests {
    /// The budget: at most 100 KB of script and style, uncompressed.
    #[test]
    fn script_and_style_stay_small() {
        let total: usize =
            super::FILES.iter().filter(|(n, _, _)| n.ends_with(".js") || n.ends_with(".css")).map(|f| f.2.len()).sum();
        assert!(total <= 100 * 1000, "UI script and style are {total} bytes");
    }
}
