//! Operating the policy at run time: show, replace, roll back.
//!
//! These routes check the admin token themselves instead of asking the policy,
//! so a policy can never lock the operator out of replacing it.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::{read_body, Shared};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::policy::{Candidate, PrincipalKind};

/// Largest policy component accepted.
pub const MAX_POLICY_BYTES: usize = 64 * 1024 * 1024;

/// The header carrying a candidate's detached signature (base64 of the 64-byte Ed25519
/// signature of the component's exact bytes, what `imgbed policy sign` writes).
pub const SIGNATURE_HEADER: &str = "x-imgbed-signature";

/// Only the admin token may see or change the policy (the policy itself is not asked).
pub(super) fn require_admin(caller: &Caller) -> ApiResult<()> {
    match caller.principal.kind {
        PrincipalKind::Admin => Ok(()),
        PrincipalKind::Anonymous => Err(ApiError::of(Code::NoAuthority)),
        PrincipalKind::User => Err(ApiError::of(Code::Forbidden)),
    }
}

pub(super) fn describe(state: &Shared) -> Value {
    json!({
        "active": state.policy.active().describe(),
        "previous": state.policy.previous().map(|p| p.describe()),
        "signatures_required": state.policy.checks_signatures(),
        "shared_refused": state.shared_policy.as_ref().and_then(|s| s.refused()),
        "shadow": state.policy.shadow().map(|s| s.describe()),
    })
}

/// Publishes the new active policy to the other hosts: true when published, false
/// without a shared database, the reason when publishing failed (this host keeps it).
pub(super) async fn shared_answer(state: &Shared) -> Value {
    published(state, state.publish_policy()).await
}

/// What publishing to the other hosts gave: true, false without a shared database, or
/// the reason it failed (the change then holds on this host only).
pub(super) async fn published(state: &Shared, publish: impl std::future::Future<Output = Result<(), String>>) -> Value {
    if state.shared_policy.is_none() {
        return json!(false);
    }
    match publish.await {
        Ok(()) => json!(true),
        Err(e) => json!(e),
    }
}

/// The candidate in a request: the component as the body (at most
/// [`MAX_POLICY_BYTES`]) with its signature in [`SIGNATURE_HEADER`], or a
/// `multipart/form-data` form with a `policy` part (the component) and an optional
/// `signature` part.
pub(super) async fn candidate(headers: &HeaderMap, body: Body) -> ApiResult<Candidate> {
    let in_header = headers.get(SIGNATURE_HEADER).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (component, signature) = match multer::parse_boundary(content_type) {
        Ok(boundary) if content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data") => {
            let body = read_body(headers, body, MAX_POLICY_BYTES + FORM_OVERHEAD).await?;
            let (component, in_form) = form(body, boundary).await?;
            if in_header.is_some() && in_form.is_some() {
                return Err(ApiError::bad_request("give the signature once: as the header or as the form part"));
            }
            (component, in_form.or(in_header))
        }
        _ => (read_body(headers, body, MAX_POLICY_BYTES).await?.to_vec(), in_header),
    };
    if component.is_empty() {
        return Err(ApiError::bad_request("the body must be a policy component (.wasm)"));
    }
    Ok(Candidate::new(component, "admin-api").signed(signature))
}

/// Room for the part headers and boundaries of a candidate's form.
const FORM_OVERHEAD: usize = 16 * 1024;
/// Longest `signature` part: a base64 signature is 88 characters.
const SIGNATURE_PART_LIMIT: u64 = 1024;

/// The `policy` part (the component, at most [`MAX_POLICY_BYTES`]) and the `signature`
/// part of a candidate's form, each at most once; any other part is a 400.
async fn form(body: bytes::Bytes, boundary: String) -> ApiResult<(Vec<u8>, Option<String>)> {
    use multer::{Constraints, SizeLimit};
    let bad = |e: multer::Error| match e {
        multer::Error::FieldSizeExceeded { field_name, .. } if field_name.as_deref() == Some("signature") => {
            ApiError::bad_request(format!("the signature part is over {SIGNATURE_PART_LIMIT} bytes"))
        }
        multer::Error::FieldSizeExceeded { .. } => ApiError::too_large(MAX_POLICY_BYTES as u64),
        e => ApiError::bad_request(format!("the form is not a policy and its signature: {e}")),
    };
    let limits =
        SizeLimit::new().for_field("policy", MAX_POLICY_BYTES as u64).for_field("signature", SIGNATURE_PART_LIMIT);
    let constraints = Constraints::new().allowed_fields(vec!["policy", "signature"]).size_limit(limits);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut parts = multer::Multipart::with_constraints(stream, boundary, constraints);
    let (mut component, mut signature) = (None, None);
    while let Some(part) = parts.next_field().await.map_err(bad)? {
        let policy = part.name() == Some("policy");
        let bytes = part.bytes().await.map_err(bad)?;
        let twice = if policy {
            component.replace(bytes.to_vec()).is_some()
        } else {
            signature.replace(String::from_utf8_lossy(&bytes).into_owned()).is_some()
        };
        if twice {
            return Err(ApiError::bad_request("each of the parts policy and signature at most once"));
        }
    }
    let component = component.ok_or_else(|| ApiError::bad_request("the form has no policy part (the .wasm)"))?;
    Ok((component, signature))
}

/// `GET /api/admin/policy`: the active and previous policy with their counters.
#[utoipa::path(get, path = "/api/admin/policy", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), responses((status = 200, description = "active and previous policy", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::RateLimited))]
pub async fn show(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    Ok(Json(json!({"data": describe(&state), "type": "ok"})))
}

/// `PUT /api/admin/policy` with the component bytes (and, when `policy.trusted_keys` is
/// set, its signature in `X-Imgbed-Signature`), or a form with `policy` and `signature`
/// parts: verify, check, self-test, swap.
/// 403 also when `policy.trusted_keys` is set and the signature is missing
/// (`policy_unsigned`) or not by a trusted key (`policy_bad_signature`).
#[utoipa::path(put, path = "/api/admin/policy", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)"), ("X-Imgbed-Signature" = Option<String>, Header, description = "detached Ed25519 signature of the component (base64), or the form's signature part; required when policy.trusted_keys is set")), request_body(content((Vec<u8> = "application/octet-stream"), (super::schema::PolicyForm = "multipart/form-data"))), responses((status = 200, description = "swapped", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::TooLarge, crate::http::schema::RefusedContent, crate::http::schema::RateLimited))]
pub async fn replace(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    // The admin token first: nothing of the body is read for anyone else.
    require_admin(&caller)?;
    let candidate = candidate(&headers, body).await?;
    state.policy.swap_candidate(candidate).await.map_err(ApiError::refused_candidate)?;
    let shared = shared_answer(&state).await;
    Ok(Json(json!({"data": "策略已更新", "type": "ok", "policy": describe(&state), "shared": shared})))
}

/// `POST /api/admin/policy/rollback`: back to the previous policy.
#[utoipa::path(post, path = "/api/admin/policy/rollback", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), responses((status = 200, description = "rolled back", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::Conflict, crate::http::schema::RateLimited))]
pub async fn rollback(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    state.policy.rollback().await.map_err(|e| ApiError::of(Code::NoPreviousPolicy).with_detail(e.to_string()))?;
    let shared = shared_answer(&state).await;
    Ok(Json(json!({"data": "策略已回滚", "type": "ok", "policy": describe(&state), "shared": shared})))
}
