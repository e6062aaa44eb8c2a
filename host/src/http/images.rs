//! List, info, format, delete and init_db.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use serde_json::{json, Value};

use super::html;
use super::view::ImageView;
use super::{authorize, json_object, query_map, query_pairs, read_body, Shared, JSON_BODY_LIMIT};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::policy::{facts, Action, Facts, RequestedAction};
use crate::store::{Cursor, ImageRecord, Start, StoreError};

fn positive(query: &std::collections::HashMap<String, String>, key: &str, default: u64) -> ApiResult<u64> {
    match query.get(key).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ApiError::bad_request(format!("{key} must be a whole number of at least 1, got {v:?}"))),
        },
    }
}

/// A paging parameter given twice is ambiguous (a client that appends `after` to a URL that
/// has one would loop back to an earlier page): 400.
fn once(pairs: &[(String, String)], keys: &[&str]) -> ApiResult<()> {
    match keys.iter().find(|k| pairs.iter().filter(|(n, _)| n == *k).count() > 1) {
        Some(k) => Err(ApiError::bad_request(format!("{k} given more than once"))),
        None => Ok(()),
    }
}

/// `GET /api/image_list?page=&per_page=` or `?after=&per_page=`: the caller's images,
/// newest first; `next` is the `after` of the page that follows (`null` on the last page).
#[utoipa::path(get, path = "/api/image_list", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)"), ("page" = Option<u64>, Query, minimum = 1), ("per_page" = Option<u64>, Query, minimum = 1), ("after" = Option<String>, Query, description = "the `next` of an earlier page: the page just after it (not with `page`); on SQLite the same cost at any depth")), responses((status = 200, description = "your images, newest first", body = super::schema::ListAnswer), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn list(State(state): State<Shared>, caller: Caller, uri: Uri) -> ApiResult<Json<Value>> {
    let pairs = query_pairs(&uri)?;
    let who = caller.principal;
    authorize(&state, Action::ImageList, &who, facts()).await?;
    once(&pairs, &["page", "per_page", "after"])?;
    let query: std::collections::HashMap<String, String> = pairs.into_iter().collect();
    let max = u64::from(state.settings.config.server.max_per_page);
    let per_page = positive(&query, "per_page", max.min(20))?.min(max);
    let (page, start) = match query.get("after").map(|a| a.trim()) {
        None | Some("") => {
            let page = positive(&query, "page", 1)?;
            (Some(page), Start::Offset((page - 1).saturating_mul(per_page)))
        }
        Some(_) if query.get("page").is_some_and(|p| !p.trim().is_empty()) => {
            return Err(ApiError::bad_request("give page or after, not both"))
        }
        Some(after) => match Cursor::parse(after) {
            Some(c) => (None, Start::After(c)),
            None => return Err(StoreError::BadCursor.into()),
        },
    };
    let result = state.store.list(&who.id, &start, per_page).await.map_err(ApiError::from)?;
    let mut items = Vec::with_capacity(result.items.len());
    for r in &result.items {
        items.push(ImageView::of(&state, r).await);
    }
    Ok(Json(json!({
        "data": items,
        "type": "ok",
        "page": page,
        "per_page": per_page,
        "total": result.total,
        "pages": result.total.div_ceil(per_page),
        "next": result.next.map(|c| c.encode()),
    })))
}

/// Names from `?name=` or a JSON body `{"name"}` (and `{"names": [...]}` when `many`).
fn names_of(uri: &Uri, body: &Bytes, many: bool) -> ApiResult<Vec<String>> {
    let query = query_map(uri)?;
    let object = json_object(body)?;
    let mut names = Vec::new();
    if let Some(obj) = &object {
        match obj.get("name") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => names.push(s.clone()),
            Some(_) => return Err(ApiError::bad_json("name must be a string")),
        }
        if many {
            match obj.get("names") {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for item in items {
                        match item {
                            Value::String(s) => names.push(s.clone()),
                            _ => return Err(ApiError::bad_json("names must be a list of strings")),
                        }
                    }
                }
                Some(_) => return Err(ApiError::bad_json("names must be a list of strings")),
            }
        }
    }
    if names.is_empty() {
        if let Some(n) = query.get("name") {
            names.push(n.clone());
        }
    }
    names.retain(|n| !n.is_empty());
    if names.is_empty() {
        return Err(ApiError::bad_request(if many { "name or names is required" } else { "name is required" }));
    }
    Ok(names)
}

/// Looks up a record the principal may see; someone else's is answered as missing.
/// One policy call either way: with the owner when the record exists, without when it does
/// not (so a caller without a token gets 401, not 404).
async fn owned(state: &Shared, who: &crate::policy::Principal, action: Action, name: &str) -> ApiResult<ImageRecord> {
    let Some(record) = state.store.get(name).await.map_err(ApiError::from)? else {
        authorize(state, action, who, facts()).await?;
        return Err(ApiError::of(Code::NotFound));
    };
    let about = Facts { owner: Some(record.owner.clone()), image: Some(record.name.clone()), ..facts() };
    authorize(state, action, who, about).await.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            ApiError::of(Code::NotFound)
        } else {
            e
        }
    })?;
    Ok(record)
}

/// The one record a request names (`?name=` or JSON `{"name"}`), if the caller may see it.
async fn requested(
    state: &Shared,
    who: &crate::policy::Principal,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
    action: Action,
) -> ApiResult<ImageRecord> {
    let body = read_body(headers, body, JSON_BODY_LIMIT).await?;
    let name = names_of(uri, &body, false)?.remove(0);
    owned(state, who, action, &name).await
}

/// `GET /api/image_info?name=` (or JSON `{"name"}`).
#[utoipa::path(get, path = "/api/image_info", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)"), ("name" = Option<String>, Query, description = "also accepted as JSON body")), responses((status = 200, description = "the image", body = super::schema::InfoAnswer), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::NotFound, crate::http::schema::TooLarge, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn info(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> ApiResult<Json<Value>> {
    let record = requested(&state, &caller.principal, &headers, &uri, body, Action::ImageInfo).await?;
    Ok(Json(json!({"data": ImageView::of(&state, &record).await, "type": "ok"})))
}

/// Makes a URL safe inside Markdown `(...)` and BBCode `[img]...[/img]`.
fn link_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '"' => out.push_str("%22"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /api/image_format?name=` (or JSON `{"name"}`): ready-to-paste snippets.
#[utoipa::path(get, path = "/api/image_format", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)"), ("name" = Option<String>, Query, description = "also accepted as JSON body")), responses((status = 200, description = "snippets", body = super::schema::FormatAnswer), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::NotFound, crate::http::schema::TooLarge, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn format(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> ApiResult<Json<Value>> {
    let record = requested(&state, &caller.principal, &headers, &uri, body, Action::ImageFormat).await?;
    let url = state.image_url(&record);
    let safe = link_safe(&url);
    let data = if record.kind == "video" {
        // Markdown has no video syntax: a link. BBCode boards mostly know [video].
        json!({
            "raw": record.name,
            "link": url,
            "html": format!(
                "<video src=\"{}\" controls preload=\"metadata\" width=\"{}\" height=\"{}\"></video>",
                html::escape(&url),
                record.width,
                record.height
            ),
            "markdown": format!("[video]({safe})"),
            "bbcode": format!("[video]{safe}[/video]"),
        })
    } else {
        let srcset = super::variant::srcset(&state, &record);
        let responsive = srcset.as_ref().map(|set| {
            format!(
                "<img src=\"{}\" srcset=\"{}\" sizes=\"(max-width: {w}px) 100vw, {w}px\" alt=\"image\">",
                html::escape(&url),
                html::escape(set),
                w = record.width
            )
        });
        json!({
            "raw": record.name,
            "link": url,
            "html": format!("<img src=\"{}\" alt=\"image\">", html::escape(&url)),
            "markdown": format!("![image]({safe})"),
            "bbcode": format!("[img]{safe}[/img]"),
            "srcset": srcset,
            "html_srcset": responsive,
        })
    };
    Ok(Json(json!({"data": data, "type": "ok"})))
}

/// `POST /api/image_delete` with `{"name"}` or `{"names": [...]}`: all or nothing.
#[utoipa::path(post, path = "/api/image_delete", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)"), ("name" = Option<String>, Query)), request_body(content = Option<super::schema::NamesBody>, content_type = "application/json"), responses((status = 200, description = "deleted", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::NotFound, crate::http::schema::TooLarge, crate::http::schema::RateLimited, crate::http::schema::PolicyFailure, crate::http::schema::Unavailable))]
pub async fn delete(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> ApiResult<Json<Value>> {
    let who = caller.principal;
    authorize(&state, Action::ImageDelete, &who, facts()).await?;
    let body = read_body(&headers, body, JSON_BODY_LIMIT).await?;
    let mut names = names_of(&uri, &body, true)?;
    names.dedup();
    let limit = state.settings.config.server.max_per_page as usize;
    if names.len() > limit {
        return Err(ApiError::bad_request(format!("at most {limit} names per request")));
    }
    // Check every name first, so an unknown one deletes nothing: the records, then the
    // decision on each (with its owner) in one policy session, not one per image.
    let mut about = Vec::with_capacity(names.len());
    for name in &names {
        let record = state.store.get(name).await.map_err(ApiError::from)?;
        let record = record.ok_or_else(|| ApiError::of(Code::NotFound).with_file(name.clone()))?;
        about.push(Facts { owner: Some(record.owner), image: Some(record.facts.name), ..facts() });
    }
    let (jwt, asker) = (state.settings.config.auth.jwt, who.clone());
    let action = RequestedAction::Known(Action::ImageDelete);
    let asked = action.clone();
    let decided = state
        .policy
        .run(move |s| {
            let mut decided = Vec::new();
            for facts in about {
                let facts = Facts { jwt, ..facts };
                let answer = s.authorize(&asked, &asker, &facts)?;
                let refused = answer.is_err();
                decided.push((facts, answer));
                if refused {
                    break;
                }
            }
            Ok(decided)
        })
        .await
        .map_err(ApiError::from)?;
    let mut refused = None;
    for (facts, answer) in decided {
        if let Some(shadow) = state.policy.shadow_sampled() {
            let answer = Ok(answer.clone());
            super::shadow_authorize(&state, shadow, action.clone(), who.clone(), facts.clone(), &answer);
        }
        if let Err(r) = answer {
            refused = Some((facts.image.unwrap_or_default(), r));
        }
    }
    if let Some((name, r)) = refused {
        // Someone else's image is answered as missing.
        let e = ApiError::from(r);
        return Err(if e.status == StatusCode::NOT_FOUND { ApiError::of(Code::NotFound).with_file(name) } else { e });
    }
    // Records first, each leaving a pending delete (in the same transaction on SQLite):
    // a crash before the files are gone is finished at the next start.
    let deleted = state.store.delete_images(&names).await.map_err(ApiError::from)?;
    state.finish_deletes(&deleted).await;
    Ok(Json(json!({"data": "文件删除成功", "type": "ok", "deleted": names})))
}

/// `POST /api/init_db` (admin): ensures the schema; idempotent.
#[utoipa::path(post, path = "/api/init_db", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), responses((status = 200, description = "schema ensured", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn init_db(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authorize(&state, Action::AdminInitDb, &caller.principal, facts()).await?;
    state.store.init().await.map_err(ApiError::from)?;
    Ok(Json(json!({"data": "database init success", "type": "ok"})))
}
