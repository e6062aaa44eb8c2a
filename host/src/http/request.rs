//! Reading requests: bounded bodies, query strings and JSON objects, each refused
//! with a JSON error when malformed.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, Code};

/// Request bodies of these routes are small JSON objects.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::of(Code::TooLarge)
        } else {
            ApiError::body_unreadable(e.body_text())
        }
    })
}

/// Reads a request body of at most `limit` bytes. Called only once the caller's token is
/// checked (a forged or revoked token is a 401 before any of the body is read; the
/// policy routes refuse everyone but the admin first). More than `limit` bytes: 413,
/// without reading the rest.
pub(crate) async fn read_body(headers: &HeaderMap, body: axum::body::Body, limit: usize) -> ApiResult<Bytes> {
    use futures_util::StreamExt;
    let too_large = || ApiError::too_large(limit as u64);
    let declared = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::body_unreadable(e.to_string()))?;
        if out.len() + chunk.len() > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// Most bytes of a JSON request body.
pub(crate) const JSON_BODY_LIMIT: usize = 64 * 1024;

/// Query string as its name/value pairs, in order (a name may repeat); a malformed one is a 400.
pub(crate) fn query_pairs(uri: &Uri) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))
}

/// Query string as a map (of a repeated name, the last value); a malformed one is a 400.
pub(crate) fn query_map(uri: &Uri) -> ApiResult<HashMap<String, String>> {
    Ok(query_pairs(uri)?.into_iter().collect())
}

/// An optional JSON object body: empty → `None`, anything but an object → 400.
pub(crate) fn json_object(body: &Bytes) -> ApiResult<Option<serde_json::Map<String, Value>>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(ApiError::bad_json("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_json(e.to_string())),
    }
}

/// The string fields `keys` of a request that comes from a browser form or from a client:
/// the query string, then an HTML form body (`application/x-www-form-urlencoded`) or a
/// JSON object body. Also says whether the body was a form (the answer is then a page).
pub(crate) fn form_fields(
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
    keys: &[&str],
) -> ApiResult<(HashMap<String, String>, bool)> {
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut fields = query_map(uri)?;
    if is_form {
        let form: HashMap<String, String> =
            serde_urlencoded::from_bytes(body).map_err(|e| ApiError::bad_request(format!("malformed form: {e}")))?;
        fields.extend(form);
    } else if let Some(obj) = json_object(body)? {
        for key in keys {
            match obj.get(*key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    fields.insert(key.to_string(), s.clone());
                }
                Some(_) => return Err(ApiError::bad_json(format!("{key} must be a string"))),
            }
        }
    }
    Ok((fields, is_form))
}
