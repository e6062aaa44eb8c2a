//! Request-body hygiene, as middleware: a body that stops arriving fails after
//! `connections.body_idle_timeout_s` (so a paused upload gives back its connection and
//! its temp file), and an upload's multipart structure is bounded before the parser
//! buffers anything (see [`super::upload::guard`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use super::Shared;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body stream that fails when no data arrives for `idle`. The clock starts at the
/// first read (a handler may check the caller before it reads; with `Expect:
/// 100-continue` the client sends nothing before that).
struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl<S, E> Stream for IdleTimeout<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let deadline = Instant::now() + self.idle;
                if let Some(timer) = self.timer.as_mut() {
                    timer.as_mut().reset(deadline);
                }
                Poll::Ready(item.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = self.idle;
                let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.done = true;
                        let secs = self.idle.as_secs();
                        Poll::Ready(Some(Err(format!("no request data for {secs} s").into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

/// Middleware: every request body fails after `connections.body_idle_timeout_s` without
/// data. An error answer to a request that came with a body closes the connection: the
/// body may be partly unread (refused before reading it), so the connection cannot carry
/// another request, and the client must not try.
pub async fn idle_body(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let idle = Duration::from_secs(state.settings.config.connections.body_idle_timeout_s);
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    let (parts, body) = req.into_parts();
    let stream = IdleTimeout { inner: body.into_data_stream(), idle, timer: None, done: false };
    let mut res = next.run(Request::from_parts(parts, Body::from_stream(stream))).await;
    if has_body && (res.status().is_client_error() || res.status().is_server_error()) {
        res.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    res
}

/// Middleware for the upload route: the part headers, the preamble and the number of
/// parts are bounded as the body streams in.
pub async fn multipart_guard(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let boundary = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(super::upload::guard::boundary);
    let Some(boundary) = boundary else { return next.run(req).await };
    let c = &state.settings.config;
    // Files, plus room for other fields a client may add (they are skipped).
    let max_parts = c.server.max_files_per_request as usize * 2 + 16;
    let (parts, body) = req.into_parts();
    let guard = super::upload::guard::PartGuard::new(
        body.into_data_stream(),
        &boundary,
        c.connections.part_header_bytes,
        max_parts,
    );
    next.run(Request::from_parts(parts, Body::from_stream(guard))).await
}
