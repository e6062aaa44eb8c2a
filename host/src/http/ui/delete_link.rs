//! Per-image deletion links: `{site}/delete/{name}?key=…`, given once in the upload
//! answer (ShareX's `DeletionURL`). A browser opening such a link sends no token, so the
//! link carries its own credential: a random key of that one image (never the account
//! token), of which only the SHA-256 is stored. Opening the link (GET) shows a
//! confirmation page and deletes nothing (link scanners open links); its form POSTs the
//! key back, which deletes the image. The key itself is what makes the POST genuine: a
//! page elsewhere cannot forge it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::Shared;
use crate::config::Settings;
use crate::error::{ApiError, ApiResult, Code};
use crate::http::{body_bytes, form_fields, html, query_map};
use crate::store::ImageRecord;

/// A new deletion key and the hash to store.
pub fn new_key() -> (String, String) {
    let key = hex::encode(rand::random::<[u8; 32]>());
    let hash = key_hash(&key);
    (key, hash)
}

/// What is stored of a key: its SHA-256, hex.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The deletion link of a stored name.
pub fn delete_url(settings: &Settings, name: &str, key: &str) -> String {
    format!("{}/delete/{name}?key={key}", crate::config::site_url(&settings.config))
}

fn bad_key() -> ApiError {
    ApiError::of(Code::InvalidDeleteKey)
}

/// The record `name` if `key` is its deletion key (compared in constant time).
async fn verified(state: &Shared, name: &str, key: Option<&str>) -> ApiResult<ImageRecord> {
    let key = key.map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| ApiError::bad_request("key is required"))?;
    if key.len() > 256 {
        return Err(bad_key());
    }
    let record = state.store.get(name).await.map_err(ApiError::from)?.ok_or_else(|| ApiError::of(Code::NotFound))?;
    match &record.delete_key {
        Some(stored) if crate::auth::secret_eq(stored, &key_hash(key)) => Ok(record),
        _ => Err(bad_key()),
    }
}

/// `{"key"}`: the deletion key of the image named in the path.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DeleteKeyBody {
    pub key: String,
}

/// `GET /delete/{name}?key=`: the confirmation page (deletes nothing).
/// 400 without a key, 403 (`invalid_delete_key`) when it is not this image's key,
/// 404 when there is no such image.
#[utoipa::path(get, path = "/delete/{name}", params(("name" = String, Path), ("key" = Option<String>, Query, description = "the image's deletion key")), responses((status = 200, description = "a confirmation page; nothing is deleted", content_type = "text/html", body = String), crate::http::schema::BadInput, crate::http::schema::NotAllowed, crate::http::schema::NotFound, crate::http::schema::RateLimited, crate::http::schema::DatabaseUnavailable))]
pub async fn show(State(state): State<Shared>, Path(name): Path<String>, uri: Uri) -> ApiResult<Response> {
    let query = query_map(&uri)?;
    let key = query.get("key").map(String::as_str);
    let record = verified(&state, &name, key).await?;
    let preview = match (record.kind.as_str(), state.thumb_url(&record).await) {
        (_, Some(thumb)) => format!("<img class=\"media\" src=\"{}\" alt=\"\">", html::escape(&thumb)),
        ("video", None) => String::new(),
        (_, None) => {
            format!("<img class=\"media\" src=\"{}\" alt=\"\">", html::escape(&state.image_url(&record)))
        }
    };
    let body = format!(
        "<h1>删除图片 · Delete this image?</h1>{preview}\
         <p class=\"fname\">{original}</p>\
         <p>确认删除这个文件? 它的链接将失效, 且无法恢复。<br>\
         Delete this file? Its links stop working. This cannot be undone.</p>\
         <form method=\"post\" action=\"/delete/{name}\"><input type=\"hidden\" name=\"key\" value=\"{key}\">\
         <button type=\"submit\" class=\"danger\">确认删除 / Delete</button></form>",
        original = html::escape(&record.original_name),
        name = html::escape(&record.name),
        key = html::escape(key.unwrap_or_default().trim()),
    );
    Ok(page(&state, StatusCode::OK, "删除图片 · Delete", &body))
}

/// `POST /delete/{name}` with the key (the page's form, JSON `{"key"}` or `?key=`).
/// 400 without a key or with bad input, 403 (`invalid_delete_key`) when it is not this
/// image's key, 404 when there is no such image.
#[utoipa::path(post, path = "/delete/{name}", params(("name" = String, Path), ("key" = Option<String>, Query, description = "the image's deletion key (or in the body)")), request_body(content = Option<DeleteKeyBody>, content_type = "application/json"), responses((status = 200, description = "deleted (a page for the form)", content((crate::http::schema::Envelope = "application/json"), (String = "text/html"))), crate::http::schema::BadInput, crate::http::schema::NotAllowed, crate::http::schema::NotFound, crate::http::schema::TooLarge, crate::http::schema::RateLimited, crate::http::schema::DatabaseUnavailable))]
pub async fn confirm(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_bytes(body)?;
    let (fields, is_form) = form_fields(&headers, &uri, &body, &["key"])?;
    verified(&state, &name, fields.get("key").map(String::as_str)).await?;
    // As `image_delete` does: the record (leaving a pending delete), then the files.
    let deleted = state.store.delete_images(std::slice::from_ref(&name)).await.map_err(ApiError::from)?;
    if deleted.is_empty() {
        return Err(ApiError::of(Code::NotFound));
    }
    state.finish_deletes(&deleted).await;
    tracing::info!(name = %name, "image deleted by its deletion link");
    if is_form {
        let body = "<h1>已删除 · Deleted</h1><p>文件已删除, 它的链接已失效。<br>The file was deleted; its links no longer work.</p>";
        return Ok(page(&state, StatusCode::OK, "已删除 · Deleted", body));
    }
    Ok(Json(json!({"data": "文件删除成功", "type": "ok", "deleted": [name]})).into_response())
}

/// A small page in the UI's style (its style sheet, no script).
fn page(state: &Shared, status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>{t}</title>\
         <link rel=\"icon\" href=\"/ui/icon.svg\" type=\"image/svg+xml\"><link rel=\"stylesheet\" href=\"/ui/app.css\">\
         </head><body><main class=\"single\"><div class=\"panel\">{body}</div></main></body></html>",
        t = html::escape(title),
    );
    let mut res = (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response();
    super::page_headers(&state.settings.config, &mut res);
    res
}
