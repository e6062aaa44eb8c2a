//! Prometheus metrics: requests by route template and status with latency,
//! uploads and bytes stored, and every loaded policy's counters.
//!
//! `/metrics` is private: with `metrics.token` set it needs that bearer token,
//! otherwise it answers only clients on loopback.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::Shared;
use crate::error::{ApiError, Code};
use crate::policy::LATENCY_BUCKETS;

/// Middleware: counts every request under its route template (never the raw path,
/// so names and tokens in URLs do not become labels) and writes the access log
/// line. The query string is never logged: it may hold a token.
pub async fn track(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    // A fixed set of labels: made-up methods must not grow the metrics without bound.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "PATCH") => m,
        _ => "OTHER",
    }
    .to_string();
    let path = req.uri().path().to_string();
    let client = state.ip_filter.client_or_peer(peer.ip(), req.headers());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map_or_else(|| hex::encode(rand::random::<[u8; 8]>()), str::to_string);
    let started = Instant::now();
    let mut res = next.run(req).await;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    state.http_metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    tracing::info!(
        target: "imgbed::access",
        request_id = %request_id,
        %method,
        %path,
        %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1e3,
        client = %client,
        policy = %state.policy.active().name,
        "request"
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

fn histogram(out: &mut String, name: &str, labels: &str, buckets: &[u64], sum: f64, count: u64) {
    let mut cumulative = 0;
    for (i, n) in buckets.iter().enumerate() {
        cumulative += n;
        let le = LATENCY_BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The Prometheus text exposition.
pub fn render(state: &Shared) -> String {
    let mut out = String::new();
    out.push_str("# TYPE imgbed_http_requests_total counter\n# TYPE imgbed_http_request_seconds histogram\n");
    {
        let map = state.http_metrics.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((method, route, status), (count, _, _)) in map.iter() {
            let _ = writeln!(
                out,
                "imgbed_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                label(route)
            );
        }
        for ((method, route, status), (count, sum, buckets)) in map.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\",status=\"{status}\"", label(route));
            histogram(&mut out, "imgbed_http_request_seconds", &labels, buckets, *sum, *count);
        }
    }
    let m = &state.http_metrics;
    single(&mut out, "counter", "imgbed_uploads_total", m.uploads.load(Ordering::Relaxed));
    single(&mut out, "counter", "imgbed_bytes_stored_total", m.bytes_stored.load(Ordering::Relaxed));
    out.push_str("# TYPE imgbed_upload_phase_seconds summary\n");
    for (phase, count, seconds) in m.upload_phases.snapshot() {
        let _ = writeln!(out, "imgbed_upload_phase_seconds_count{{phase=\"{phase}\"}} {count}");
        let _ = writeln!(out, "imgbed_upload_phase_seconds_sum{{phase=\"{phase}\"}} {seconds}");
    }
    single(&mut out, "counter", "imgbed_rate_limited_total", m.rate_limited.load(Ordering::Relaxed));
    reconciliation(&mut out, &state.reconciliation.get());
    if let Some(v) = &state.variants {
        variants(&mut out, v);
    }
    let c = &state.conn_stats;
    single(&mut out, "gauge", "imgbed_connections_open", c.open.load(Ordering::Relaxed));
    let _ = writeln!(
        out,
        "# TYPE imgbed_connections_refused_total counter\nimgbed_connections_refused_total{{reason=\"max\"}} {}\nimgbed_connections_refused_total{{reason=\"per_ip\"}} {}",
        c.refused_global.load(Ordering::Relaxed),
        c.refused_per_ip.load(Ordering::Relaxed)
    );
    let shadow = state.policy.shadow_totals();
    single(&mut out, "counter", "imgbed_policy_shadow_calls_total", shadow.calls.load(Ordering::Relaxed));
    single(&mut out, "counter", "imgbed_policy_shadow_skipped_total", shadow.skipped.load(Ordering::Relaxed));
    out.push_str("# TYPE imgbed_policy_shadow_disagreements_total counter\n");
    for (action, n) in shadow.by_action() {
        let _ = writeln!(out, "imgbed_policy_shadow_disagreements_total{{action=\"{}\"}} {n}", label(&action));
    }
    single(&mut out, "gauge", "imgbed_policy_shadow_loaded", u64::from(state.policy.shadow().is_some()));
    let active = state.policy.active();
    out.push_str("# TYPE imgbed_policy_active gauge\n# TYPE imgbed_policy_calls_total counter\n");
    out.push_str("# TYPE imgbed_policy_rejections_total counter\n# TYPE imgbed_policy_traps_total counter\n");
    out.push_str("# TYPE imgbed_policy_timeouts_total counter\n# TYPE imgbed_policy_invalid_answers_total counter\n");
    out.push_str("# TYPE imgbed_policy_call_seconds histogram\n");
    for (sha, name, stats) in state.policy.sandbox().all_stats() {
        let labels = format!("policy=\"{}\",sha256=\"{}\"", label(&name), &sha[..16]);
        let s = stats.snapshot();
        let _ = writeln!(out, "imgbed_policy_active{{{labels}}} {}", u8::from(sha == active.sha256));
        let _ = writeln!(out, "imgbed_policy_calls_total{{{labels}}} {}", s.calls);
        for (code, n) in &s.rejections {
            let _ = writeln!(out, "imgbed_policy_rejections_total{{{labels},code=\"{}\"}} {n}", label(code));
        }
        let _ = writeln!(out, "imgbed_policy_traps_total{{{labels}}} {}", s.traps);
        let _ = writeln!(out, "imgbed_policy_timeouts_total{{{labels}}} {}", s.timeouts);
        let _ = writeln!(out, "imgbed_policy_invalid_answers_total{{{labels}}} {}", s.invalid_answers);
        histogram(
            &mut out,
            "imgbed_policy_call_seconds",
            &labels,
            &s.latency.buckets,
            s.latency.sum_seconds,
            s.latency.count,
        );
    }
    out
}

/// Where start-up reconciliation is and what it found (records without files are kept
/// and counted here; files without records were moved to quarantine).
fn reconciliation(out: &mut String, phase: &crate::reconcile::Phase) {
    let (done, missing, quarantined) = match phase {
        crate::reconcile::Phase::Done(r) => (1, r.missing_files, r.quarantined.len()),
        _ => (0, 0, 0),
    };
    single(out, "gauge", "imgbed_reconciliation_done", done);
    single(out, "gauge", "imgbed_records_missing_files", missing as u64);
    single(out, "gauge", "imgbed_quarantined_at_start", quarantined as u64);
}

/// The variant cache: hits, misses, variants made, evicted, refused and rate-limited,
/// and what it holds.
fn variants(out: &mut String, v: &crate::variants::Variants) {
    let c = &v.counters;
    for (name, n) in [
        ("imgbed_variant_hits_total", &c.hits),
        ("imgbed_variant_misses_total", &c.misses),
        ("imgbed_variants_made_total", &c.made),
        ("imgbed_variant_evictions_total", &c.evicted),
        ("imgbed_variant_refusals_total", &c.refused),
        ("imgbed_variant_rate_limited_total", &c.limited),
    ] {
        single(out, "counter", name, n.load(Ordering::Relaxed));
    }
    let (count, bytes) = v.usage();
    single(out, "gauge", "imgbed_variant_cache_files", count as u64);
    single(out, "gauge", "imgbed_variant_cache_bytes", bytes);
}

/// A metric with a single, unlabelled value.
fn single(out: &mut String, kind: &str, name: &str, value: u64) {
    let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {value}");
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text", content_type = "text/plain"), crate::http::schema::NotAllowed, crate::http::schema::NotFound, crate::http::schema::RateLimited))]
pub async fn metrics(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let config = &state.settings.config.metrics;
    if !config.enabled {
        return Err(ApiError::of(Code::NoRoute));
    }
    let allowed = if config.token.is_empty() {
        // Loopback only — and not through a reverse proxy on the same host, which would
        // make every client "loopback": a forwarded request needs the token.
        let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| headers.contains_key(*h));
        peer.ip().is_loopback() && !forwarded
    } else {
        crate::auth::request_token(&headers, None).is_some_and(|t| crate::auth::secret_eq(&t, &config.token))
    };
    if !allowed {
        return Err(ApiError::of(Code::Forbidden));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], render(&state)).into_response())
}
