//! Middleware: the IP filter's deny/allow lists and rate limits, as JSON answers.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::error::{ApiError, Code};
use crate::ipfilter::Refused;

/// Deny/allow lists, then the rate limit of the route.
pub async fn filter(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("", |m| m.as_str());
    // The web UI's pages and files (static, embedded) never use up a client's rate.
    match state.ip_filter.check(peer.ip(), req.headers(), route, super::ui::is_static_route(route)) {
        Ok(()) => next.run(req).await,
        Err(Refused::Malformed(why)) => ApiError::bad_request(why).into_response(),
        Err(Refused::Denied) => ApiError::of(Code::IpDenied).into_response(),
        Err(Refused::Limited { retry_after }) => {
            state.http_metrics.rate_limited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            too_many(retry_after)
        }
    }
}

fn too_many(retry_after: u64) -> Response {
    ApiError::rate_limited(retry_after).into_response()
}
