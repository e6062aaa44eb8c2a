//! Moderation with the admin token: list accounts with their usage, remove or ban one.
//! (Deleting any image is `image_delete` with the admin token.)

use crate::policy::{facts, Action};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::account::remove_account;
use super::{authorize, json_object, read_body, Shared, JSON_BODY_LIMIT};
use crate::auth;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};

/// `GET /api/admin/users`: every account with its image count and bytes.
#[utoipa::path(get, path = "/api/admin/users", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), responses((status = 200, description = "accounts with usage", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn users(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authorize(&state, Action::AdminUsers, &caller.principal, facts()).await?;
    let users = state.store.users().await.map_err(ApiError::from)?;
    Ok(Json(json!({"data": users, "type": "ok", "total": users.len()})))
}

/// `POST /api/admin/remove_user` `{"mail", "ban": bool}`: deletes the account and its
/// images; with `ban`, the mail cannot register again.
#[utoipa::path(post, path = "/api/admin/remove_user", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), request_body(content = super::schema::RemoveUserBody, content_type = "application/json"), responses((status = 200, description = "removed", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::NotFound, crate::http::schema::TooLarge, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn remove_user(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    authorize(&state, Action::AdminRemoveUser, &caller.principal, facts()).await?;
    let body = read_body(&headers, body, JSON_BODY_LIMIT).await?;
    let obj = json_object(&body)?.ok_or_else(|| ApiError::bad_json("a JSON body {\"mail\": ...} is required"))?;
    let mail = match obj.get("mail") {
        Some(Value::String(m)) => {
            auth::normalise_mail(m).ok_or_else(|| ApiError::bad_request("mail is empty or too long"))?
        }
        _ => return Err(ApiError::bad_json("mail must be a string")),
    };
    let ban = match obj.get("ban") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_json("ban must be true or false")),
    };
    let existed = state.store.get_user(&mail).await.map_err(ApiError::from)?.is_some();
    if !existed && !ban {
        return Err(ApiError::of(Code::NoUser));
    }
    // Barred first, so the mail cannot register again while its account is being removed.
    if ban {
        let now = crate::clock::now();
        state.store.ban(&mail, now).await.map_err(ApiError::from)?;
    }
    let images = if existed { remove_account(&state, &mail).await? } else { 0 };
    Ok(Json(json!({"data": "用户已删除", "type": "ok", "mail": mail, "images_deleted": images, "banned": ban})))
}
