//! HTTP: routes, request parsing and answers. Errors map to HTTP in [`crate::error`].

mod account;
mod admin;
mod caller;
mod html;
mod images;
mod ipfilter;
mod limits;
pub mod listen;
pub mod metrics;
pub mod openapi;
mod policy_admin;
mod request;
mod schema;
mod serve;
mod shadow_admin;
pub mod ui;
mod upload;
mod variant;
mod view;

pub(crate) use request::{body_bytes, form_fields, json_object, query_map, query_pairs, read_body, JSON_BODY_LIMIT};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::app::{AppState, Shared};
use crate::error::{ApiError, ApiResult, Code};
use crate::policy::{Action, Facts, Principal, RequestedAction};

/// The application's routes.
pub fn router(state: Shared) -> Router {
    let s = &state.settings.config.server;
    // Multipart bodies are capped here and per file in the upload handler;
    // every refusal is turned into JSON there, never axum's plain-text 413.
    let upload_cap =
        state.settings.max_file_size().saturating_mul(u64::from(s.max_files_per_request)).saturating_add(1 << 20);
    let upload_cap = usize::try_from(upload_cap).unwrap_or(usize::MAX);
    Router::new()
        .route(
            "/api/image_upload",
            post(upload::upload)
                .layer(DefaultBodyLimit::max(upload_cap))
                .layer(axum::middleware::from_fn_with_state(state.clone(), limits::multipart_guard)),
        )
        .route("/api/image_list", get(images::list))
        .route("/api/image_info", get(images::info).post(images::info))
        .route("/api/image_format", get(images::format).post(images::format))
        .route("/api/image_delete", post(images::delete))
        .route("/api/init_db", post(images::init_db))
        .route("/api/get_token", post(account::get_token))
        .route("/api/remove_token", get(account::remove_token_get).post(account::remove_token_post))
        .route("/api/mail_for_reset", post(account::mail_for_reset))
        .route("/api/admin/users", get(admin::users))
        .route("/api/admin/remove_user", post(admin::remove_user))
        .route("/api/admin/policy", get(policy_admin::show).put(policy_admin::replace))
        .route("/api/admin/policy/rollback", post(policy_admin::rollback))
        .route(
            "/api/admin/policy/shadow",
            get(shadow_admin::show).put(shadow_admin::load).delete(shadow_admin::drop_shadow),
        )
        .route("/api/admin/policy/shadow/promote", post(shadow_admin::promote))
        .route("/images/{name}", get(serve::image))
        .route("/thumbs/{name}", get(serve::thumb))
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::metrics))
        .merge(ui::routes())
        .fallback(|| async { ApiError::of(Code::NoRoute) })
        .method_not_allowed_fallback(|| async { ApiError::of(Code::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::idle_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), ipfilter::filter))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(cors(&state.settings.config.cors.origins))
        .with_state(state)
}

/// CORS for browser front-ends: any origin with `"*"`, else the listed ones.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let layer = CorsLayer::new()
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::PUT,
            axum::http::Method::DELETE,
            axum::http::Method::HEAD,
        ])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderName::from_static(policy_admin::SIGNATURE_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<axum::http::HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
        if list.is_empty() {
            CorsLayer::new()
        } else {
            layer.allow_origin(AllowOrigin::list(list))
        }
    }
}

/// `GET /healthz`: the process is alive.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive", body = schema::Envelope)))]
async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({"data": "ok", "type": "ok"}))
}

/// `GET /readyz`: the database answers and the storage folder takes writes.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "ready", body = schema::Envelope), crate::http::schema::NotReady))]
async fn ready(axum::extract::State(state): axum::extract::State<Shared>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let database = state.store.ping().await.map_err(|e| e.to_string());
    let temp = state.temp.clone();
    let storage = match tokio::task::spawn_blocking(move || temp.probe()).await {
        Ok(Ok(())) => state.blobs.probe().await.map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let ok = database.is_ok() && storage.is_ok();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let reconciliation = match state.reconciliation.get() {
        crate::reconcile::Phase::Pending => json!("pending"),
        crate::reconcile::Phase::Running => json!("running"),
        crate::reconcile::Phase::Done(r) => json!({"state": "done", "missing_files": r.missing_files,
            "missing_sample": r.missing_sample, "quarantined": r.quarantined.len()}),
        crate::reconcile::Phase::Failed(e) => json!({"state": "failed", "error": e}),
    };
    // Reconciliation does not hold readiness back: it runs beside the traffic.
    let body = json!({
        "data": {"database": show(&database), "storage": show(&storage), "policy": &*state.policy.active().name,
                 "reconciliation": reconciliation},
        "type": if ok { "ok" } else { "error" },
    });
    let status = if ok { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// Asks the policy whether `principal` may do `action` given `facts` (the host adds `jwt`).
pub(crate) async fn authorize(state: &AppState, action: Action, principal: &Principal, facts: Facts) -> ApiResult<()> {
    let action = RequestedAction::Known(action);
    let facts = Facts { jwt: state.settings.config.auth.jwt, ..facts };
    let shadow = state.policy.shadow_sampled().map(|shadow| (shadow, principal.clone(), facts.clone()));
    let (asked, asked_action, asked_facts) = (principal.clone(), action.clone(), facts.clone());
    let decided = state.policy.run(move |s| s.authorize(&asked_action, &asked, &asked_facts)).await;
    if let Some((shadow, principal, facts)) = shadow {
        shadow_authorize(state, shadow, action, principal, facts, &decided);
    }
    decided.map_err(ApiError::from)?.map_err(ApiError::from)
}

/// Asks the shadow policy the same question in the background, to compare.
pub(crate) fn shadow_authorize(
    state: &AppState,
    shadow: std::sync::Arc<crate::policy::Shadow>,
    action: RequestedAction,
    principal: Principal,
    facts: Facts,
    decided: &Result<Result<(), crate::policy::Rejection>, crate::policy::PolicyError>,
) {
    use crate::policy::{Observed, Outcome, ShadowAnswer};
    let outcome = |d: &Result<Result<(), crate::policy::Rejection>, crate::policy::PolicyError>| match d {
        Ok(Ok(())) => Outcome::allow(),
        Ok(Err(r)) => Outcome::refuse(&r.code),
        Err(e) => Outcome::error(e),
    };
    let observed = Observed {
        action: crate::policy::action_name(&action).into_owned(),
        principal_kind: crate::policy::kind_name(principal.kind).into(),
        principal_id: principal.id.clone(),
        image: facts.image.clone(),
        active: outcome(decided),
    };
    state.policy.consult_shadow(shadow, false, observed, move |s| {
        let answer = s.authorize(&action, &principal, &facts);
        Ok(ShadowAnswer { outcome: outcome(&answer), name: None })
    });
}
