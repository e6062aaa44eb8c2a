//! Accounts: `get_token`, `remove_token` (by token, or by a mailed one-time
//! code confirmed with a POST), and `mail_for_reset`.

use crate::policy::{facts, Action, Facts};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::body_bytes;
use super::{authorize, form_fields, html, json_object, query_map, AppState, Shared};
use crate::auth::{self, Claims};
use crate::clock::now;
use crate::error::{ApiError, ApiResult, Code};
use crate::mail::Recovery;
use crate::store::{StoreError, User};

/// The string field `key` of a JSON object; wrong types are a 400.
fn string_field(obj: &serde_json::Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_json(format!("{key} must be a string"))),
    }
}

fn invalid_mail() -> ApiError {
    ApiError::of(Code::InvalidMail)
}

/// Asks the policy whether this mail may do `action` (it decides what a valid
/// mail is and may restrict domains).
async fn authorize_mail(state: &AppState, action: Action, mail: &str) -> ApiResult<()> {
    authorize(state, action, &auth::anonymous(), Facts { mail: Some(mail.into()), ..facts() }).await
}

/// The signed token of an account (re-signed from its stored claims).
fn token_of(state: &AppState, user: &User) -> String {
    auth::sign(
        &Claims { sub: user.mail.clone(), jti: user.jti.clone(), iat: user.issued_at },
        &state.secrets.jwt_secret,
    )
}

/// `POST /api/get_token` `{"mail"}` → `{"token": "<jwt>"}`.
#[utoipa::path(post, path = "/api/get_token", request_body(content = super::schema::MailBody, content_type = "application/json"), responses((status = 200, description = "registered", body = super::schema::TokenAnswer), crate::http::schema::BadInput, crate::http::schema::NotAllowed, crate::http::schema::Conflict, crate::http::schema::TooLarge, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn get_token(State(state): State<Shared>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Value>> {
    // The original answered bad input with an empty token; keep that field on every error.
    let with_token = |e: ApiError| e.with_field("token", json!(""));
    let body = body_bytes(body).map_err(with_token)?;
    let obj = json_object(&body)
        .map_err(with_token)?
        .ok_or_else(|| with_token(ApiError::bad_json("a JSON body {\"mail\": ...} is required")))?;
    let raw = string_field(&obj, "mail")
        .map_err(with_token)?
        .ok_or_else(|| with_token(invalid_mail().with_detail("mail is required")))?;
    let mail = auth::normalise_mail(&raw).ok_or_else(|| with_token(invalid_mail()))?;
    authorize_mail(&state, Action::AccountRegister, &mail).await.map_err(with_token)?;
    if state.store.is_banned(&mail).await.map_err(ApiError::from)? {
        return Err(with_token(ApiError::of(Code::Banned)));
    }
    let user = User {
        mail: mail.clone(),
        jti: hex::encode(rand::random::<[u8; 16]>()),
        issued_at: now() as i64,
        created: now(),
    };
    match state.store.create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::UserExists) => {
            return Err(ApiError::of(Code::TokenExists).with_field("token", json!("already exist")));
        }
        Err(e) => return Err(with_token(ApiError::from(e))),
    }
    let token = token_of(&state, &user);
    tracing::info!(mail = %mail, "account registered");
    Ok(Json(json!({"token": token, "data": {"mail": mail, "token": token}, "type": "ok"})))
}

fn hash_check(check: &str) -> String {
    hex::encode(Sha256::digest(check.as_bytes()))
}

/// Removes the account `mail` with its images and files.
pub(crate) async fn remove_account(state: &AppState, mail: &str) -> ApiResult<usize> {
    state.remove_account(mail).await.map_err(ApiError::from)
}

fn missing() -> ApiError {
    ApiError::of(Code::MissingFields)
}

fn remove_failed() -> ApiError {
    ApiError::of(Code::RemoveFailed)
}

/// How a removal proves itself.
enum Proof {
    Token(String),
    Check(String),
}

/// Checks the proof and removes the account. A check code is used up atomically.
async fn remove_with(state: &AppState, mail: &str, proof: Proof) -> ApiResult<usize> {
    let mail = auth::normalise_mail(mail).ok_or_else(remove_failed)?;
    let proof_kind = match &proof {
        Proof::Token(_) => crate::policy::Proof::Token,
        Proof::Check(_) => crate::policy::Proof::CheckCode,
    };
    let about = Facts { mail: Some(mail.clone()), proof: Some(proof_kind), ..facts() };
    authorize(state, Action::AccountRemove, &auth::anonymous(), about).await?;
    let user = state.store.get_user(&mail).await.map_err(ApiError::from)?.ok_or_else(remove_failed)?;
    let proven = match proof {
        Proof::Token(t) => {
            auth::secret_eq(&t, &token_of(state, &user))
                || auth::legacy_account(state.store.as_ref(), &t).await?.is_some_and(|owner| owner.mail == user.mail)
        }
        Proof::Check(c) => state.store.take_check(&mail, &hash_check(&c), now()).await.map_err(ApiError::from)?,
    };
    if !proven {
        return Err(remove_failed());
    }
    remove_account(state, &mail).await
}

fn ok_removed(images: usize) -> Json<Value> {
    Json(json!({"data": "密钥删除成功", "type": "ok", "images_deleted": images}))
}

/// `GET /api/remove_token?mail=&token=` removes the account (the original's API).
/// `GET /api/remove_token?mail=&check=` is the mailed link: it only shows a
/// confirmation page (mail scanners open links), whose form POSTs the removal.
#[utoipa::path(get, path = "/api/remove_token", params(("mail" = Option<String>, Query), ("token" = Option<String>, Query), ("check" = Option<String>, Query)), responses((status = 200, description = "removed (with token), or a confirmation page (with check)", content((super::schema::Envelope = "application/json"), (String = "text/html"))), crate::http::schema::BadInputOrPage, crate::http::schema::NotAllowed, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn remove_token_get(State(state): State<Shared>, uri: Uri) -> ApiResult<Response> {
    let q = query_map(&uri)?;
    let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let Some(mail) = get("mail") else { return Err(missing()) };
    if let Some(token) = get("token") {
        return Ok(ok_removed(remove_with(&state, &mail, Proof::Token(token)).await?).into_response());
    }
    let Some(check) = get("check") else { return Err(missing()) };
    let valid = match auth::normalise_mail(&mail) {
        Some(m) => state.store.check_valid(&m, &hash_check(&check), now()).await.map_err(ApiError::from)?,
        None => false,
    };
    Ok(if valid {
        confirm_page(&mail, &check)
    } else {
        page(StatusCode::BAD_REQUEST, "链接无效或已过期", "This link is invalid, expired or already used.")
    })
}

/// `POST /api/remove_token`: the confirmation form (urlencoded, answered with a
/// page) or API clients (JSON `{"mail","check"}` or `{"mail","token"}`).
#[utoipa::path(post, path = "/api/remove_token", request_body(content = Option<super::schema::RemoveBody>, content_type = "application/json"), responses((status = 200, description = "removed", content((super::schema::Envelope = "application/json"), (String = "text/html"))), crate::http::schema::BadInput, crate::http::schema::NotAllowed, crate::http::schema::TooLarge, crate::http::schema::RateLimited, crate::http::schema::Unavailable))]
pub async fn remove_token_post(
    State(state): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_bytes(body)?;
    let (fields, is_form) = form_fields(&headers, &uri, &body, &["mail", "check", "token"])?;
    let get = |k: &str| fields.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let outcome = match (get("mail"), get("token"), get("check")) {
        (Some(mail), Some(token), _) => remove_with(&state, &mail, Proof::Token(token)).await,
        (Some(mail), None, Some(check)) => remove_with(&state, &mail, Proof::Check(check)).await,
        _ => Err(missing()),
    };
    if !is_form {
        return outcome.map(|n| ok_removed(n).into_response());
    }
    Ok(match outcome {
        Ok(_) => page(StatusCode::OK, "密钥删除成功", "The account and all its images were deleted."),
        Err(e) => page(e.status, &e.message, "Nothing was deleted."),
    })
}

const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:3em auto\"><h1>{t}</h1><p>{x}</p></body></html>",
        t = html::escape(title),
        x = html::escape(text)
    );
    (status, [(header::CONTENT_SECURITY_POLICY, PAGE_CSP), (header::CACHE_CONTROL, "no-store")], Html(html))
        .into_response()
}

fn confirm_page(mail: &str, check: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>删除账户</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:3em auto\">\
         <h1>删除账户</h1><p>确认删除 <b>{m}</b> 的账户、密钥和全部图片? 此操作无法撤销。</p>\
         <p>Delete the account <b>{m}</b>, its token and all its images? This cannot be undone.</p>\
         <form method=\"post\" action=\"/api/remove_token\">\
         <input type=\"hidden\" name=\"mail\" value=\"{m}\"><input type=\"hidden\" name=\"check\" value=\"{c}\">\
         <button type=\"submit\">确认删除 / Delete</button></form></body></html>",
        m = html::escape(mail),
        c = html::escape(check)
    );
    (StatusCode::OK, [(header::CONTENT_SECURITY_POLICY, PAGE_CSP), (header::CACHE_CONTROL, "no-store")], Html(html))
        .into_response()
}

/// Recovery mails to one address per hour, at most (mail bombing through us).
const MAILS_PER_HOUR: u64 = 3;
/// Recovery mails being sent at once, at most; more requests are answered the same way
/// but send nothing (logged).
const MAILS_IN_FLIGHT: usize = 32;
static IN_FLIGHT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAILS_IN_FLIGHT);
/// Counting a recipient's recent mails and adding a new code happen as one step (on this
/// host), so concurrent requests cannot all see room under the limit.
static THROTTLE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `POST /api/mail_for_reset` `{"mail"}`: mails the token and a one-time removal link.
/// The answer never says whether the address has an account: without mail configured
/// every address gets the same 501; with it, every address gets 200 at once, and the
/// look-up, the per-recipient limit and the sending happen afterwards.
#[utoipa::path(post, path = "/api/mail_for_reset", request_body(content = super::schema::MailBody, content_type = "application/json"), responses((status = 200, description = "sent (or nothing to send)", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NotAllowed, crate::http::schema::TooLarge, crate::http::schema::RateLimited, crate::http::schema::NotImplemented, crate::http::schema::Unavailable))]
pub async fn mail_for_reset(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let failed = || ApiError::of(Code::BadRequest).with_message("请求找回错误");
    let body = body_bytes(body)?;
    let obj = json_object(&body)?.ok_or_else(|| failed().with_detail("a JSON body {\"mail\": ...} is required"))?;
    let raw = string_field(&obj, "mail")?.ok_or_else(|| failed().with_detail("mail is required"))?;
    let mail = auth::normalise_mail(&raw).ok_or_else(invalid_mail)?;
    authorize_mail(&state, Action::AccountRecover, &mail).await?;
    if !state.mailer.configured() {
        return Err(ApiError::of(Code::MailNotConfigured)
            .with_detail("this server has no mail.host: remove the account with its token instead"));
    }
    match IN_FLIGHT.try_acquire() {
        Err(_) => tracing::warn!("recovery mail not sent: {MAILS_IN_FLIGHT} are already being sent"),
        Ok(permit) => {
            let state = state.clone();
            tokio::spawn(async move {
                // Given back when the task ends, however it ends.
                let _permit = permit;
                if let Err(e) = send_recovery(&state, &mail).await {
                    tracing::error!(error = %e, "recovery mail not sent");
                }
            });
        }
    }
    Ok(Json(json!({"data": "找回邮件已发送", "type": "ok"})))
}

/// Looks the account up and mails it a new removal code (earlier codes stay valid),
/// unless it already got [`MAILS_PER_HOUR`] in the last hour.
async fn send_recovery(state: &AppState, mail: &str) -> Result<(), String> {
    let Some(user) = state.store.get_user(mail).await.map_err(|e| e.to_string())? else { return Ok(()) };
    let check = hex::encode(rand::random::<[u8; 24]>());
    let ttl = state.settings.config.auth.check_ttl_s;
    {
        let _one_at_a_time = THROTTLE.lock().await;
        let recent = state.store.recent_checks(mail, now() - 3600.0).await.map_err(|e| e.to_string())?;
        if recent >= MAILS_PER_HOUR {
            tracing::warn!(recent, "recovery mail not sent: the address got enough of them this hour");
            return Ok(());
        }
        state.store.set_check(mail, &hash_check(&check), now() + ttl as f64).await.map_err(|e| e.to_string())?;
    }
    let link = format!(
        "{}/api/remove_token?{}",
        crate::config::site_url(&state.settings.config),
        serde_urlencoded::to_string([("mail", mail), ("check", check.as_str())]).unwrap_or_default()
    );
    let token = token_of(state, &user);
    let recovery = Recovery { mail, token: &token, link: &link, minutes: ttl.div_ceil(60) };
    state.mailer.send_recovery(&recovery).await.map_err(|e| e.to_string())
}
