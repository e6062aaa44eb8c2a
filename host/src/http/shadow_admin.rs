//! Shadow mode at run time: load a candidate beside the active policy, see where the
//! two decide differently, promote it or drop it. Admin token only, like the other
//! policy routes (the policy itself is not asked). With MongoDB, the shadow is shared:
//! every host follows a load, promotion or drop (each records its own disagreements).

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::policy_admin::{candidate, describe, published, require_admin, shared_answer};
use super::Shared;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};

/// The shadow (with its counters and recent disagreements), the sampling settings and
/// the counts over every shadow since start.
fn shadow_state(state: &Shared) -> Value {
    let config = state.policy.shadow_config();
    let totals = state.policy.shadow_totals();
    let by_action = totals.by_action();
    json!({
        "shadow": state.policy.shadow().map(|s| s.describe()),
        "shared_refused": state.shared_policy.as_ref().and_then(|s| s.shadow_refused()),
        "sample": config.sample,
        "share": config.share,
        "totals": {
            "calls": totals.calls.load(std::sync::atomic::Ordering::Relaxed),
            "disagreements": by_action.values().sum::<u64>(),
            "skipped": totals.skipped.load(std::sync::atomic::Ordering::Relaxed),
        },
    })
}

/// `GET /api/admin/policy/shadow`: the shadow policy and what it found.
#[utoipa::path(get, path = "/api/admin/policy/shadow", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), responses((status = 200, description = "the shadow policy (null when none), its counters and recent disagreements", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::RateLimited))]
pub async fn show(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    Ok(Json(json!({"data": shadow_state(&state), "type": "ok"})))
}

/// `PUT /api/admin/policy/shadow` with the component bytes (and, with
/// `policy.trusted_keys`, its signature in `X-Imgbed-Signature`): verify, check,
/// self-test, and run it as the shadow (replacing any shadow). The active policy stays.
/// 403 also when `policy.trusted_keys` is set and the signature is missing
/// (`policy_unsigned`) or not by a trusted key (`policy_bad_signature`).
#[utoipa::path(put, path = "/api/admin/policy/shadow", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)"), ("X-Imgbed-Signature" = Option<String>, Header, description = "detached Ed25519 signature of the component (base64), or the form's signature part; required when policy.trusted_keys is set")), request_body(content((Vec<u8> = "application/octet-stream"), (super::schema::PolicyForm = "multipart/form-data"))), responses((status = 200, description = "loaded as the shadow", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::TooLarge, crate::http::schema::RefusedContent, crate::http::schema::RateLimited))]
pub async fn load(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    // The admin token first: nothing of the body is read for anyone else.
    require_admin(&caller)?;
    let mut candidate = candidate(&headers, body).await?;
    candidate.source = "shadow".into();
    let _sharing = sharing(&state).await;
    state.policy.load_shadow(candidate).await.map_err(ApiError::refused_candidate)?;
    let shared = published(&state, state.publish_shadow()).await;
    Ok(Json(json!({"data": "影子策略已加载", "type": "ok", "shadow": shadow_state(&state), "shared": shared})))
}

/// `POST /api/admin/policy/shadow/promote`: the shadow becomes the active policy (kept
/// for restarts and published to the other hosts, like a swap). 409 (`no_shadow_policy`)
/// when there is no shadow.
#[utoipa::path(post, path = "/api/admin/policy/shadow/promote", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), responses((status = 200, description = "promoted", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::Conflict, crate::http::schema::RateLimited))]
pub async fn promote(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    let _sharing = sharing(&state).await;
    state.policy.promote_shadow().await.map_err(|e| ApiError::of(Code::NoShadowPolicy).with_detail(e.to_string()))?;
    let shared = shared_answer(&state).await;
    published(&state, state.publish_shadow()).await;
    Ok(Json(json!({"data": "影子策略已启用", "type": "ok", "policy": describe(&state), "shared": shared})))
}

/// `DELETE /api/admin/policy/shadow`: drops the shadow policy.
/// 409 (`no_shadow_policy`) when there is no shadow.
#[utoipa::path(delete, path = "/api/admin/policy/shadow", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), responses((status = 200, description = "dropped; what it found is in the answer", body = super::schema::Envelope), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::Conflict, crate::http::schema::RateLimited))]
pub async fn drop_shadow(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    let _sharing = sharing(&state).await;
    let dropped = state.policy.drop_shadow().ok_or_else(|| ApiError::of(Code::NoShadowPolicy))?;
    let shared = published(&state, state.publish_shadow()).await;
    Ok(Json(json!({"data": "影子策略已移除", "type": "ok", "dropped": dropped.describe(), "shared": shared})))
}

/// With several hosts, held across a change here and its publishing (the follower waits).
async fn sharing(state: &Shared) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    match &state.shared_policy {
        Some(shared) => Some(shared.sharing.clone().lock_owned().await),
        None => None,
    }
}
