//! The accept loop, with connection hygiene: HTTP/1.1 with `TCP_NODELAY` on every
//! connection, a deadline for request headers (which runs from the moment a connection
//! waits for a request: a client that connects and sends nothing, or idles between
//! requests, is closed too), a global connection cap and a cap per client (per address,
//! per /64 for IPv6; not for trusted proxies, behind which every client shares one
//! address), and a graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::app::ConnStats;
use crate::ipfilter::IpFilter;

/// What a client may hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Whole request head (and the wait for the next one on a kept-alive connection).
    pub header_timeout: Duration,
    /// Open connections in all.
    pub max: usize,
    /// Open connections from one address.
    pub max_per_ip: usize,
}

/// Open connections per client address.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One counted connection of an address; uncounted when dropped.
struct Slot(Arc<PerIp>, IpAddr);

impl PerIp {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// How many connections fit in the descriptors this process may open: raises the soft
/// limit towards the hard one if needed, and keeps room for files and the database.
pub fn descriptor_room(wanted: usize) -> usize {
    const SPARE: u64 = 128;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read or write the struct passed by reference.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return wanted;
        }
        let needed = wanted as u64 + SPARE;
        if lim.rlim_cur < needed && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: needed.min(lim.rlim_max), rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = raised.rlim_cur;
            }
        }
    }
    let room = lim.rlim_cur.saturating_sub(SPARE).max(16) as usize;
    if room < wanted {
        tracing::warn!(wanted, room, "connections.max lowered to what the descriptor limit allows");
    }
    wanted.min(room)
}

/// Largest read buffer of a connection.
const READ_BUFFER: usize = 64 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the open connections to finish their requests (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    filter: Arc<IpFilter>,
    stats: Arc<ConnStats>,
    shutdown: impl Future<Output = ()>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let global = Arc::new(Semaphore::new(limits.max.max(1)));
    let per_ip = Arc::new(PerIp::default());
    let mut builder = hyper::server::conn::http1::Builder::new();
    // A connection's buffers stop growing at 64 KiB (hyper's default is ~400 KB): an upload
    // streams through the read buffer either way, and 32 uploading clients then hold 2 MiB
    // of buffers, not 13. A request head must fit in it (a larger one is answered 431); an
    // answer is written in batches of up to 64 KiB (files leave as shared bytes, not copies).
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(READ_BUFFER);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = global.clone().try_acquire_owned() else {
            // Counted (imgbed_connections_refused_total), not logged one by one: a flood
            // of connections must not become a flood of log lines.
            stats.refused_global.fetch_add(1, Relaxed);
            tracing::debug!(client = %peer.ip(), "connection refused: connections.max reached");
            continue;
        };
        let ip = crate::ipfilter::canonical(peer.ip());
        let slot = if filter.is_trusted(ip) {
            None
        } else {
            match per_ip.enter(crate::ipfilter::client_key(ip), limits.max_per_ip) {
                Some(slot) => Some(slot),
                None => {
                    stats.refused_per_ip.fetch_add(1, Relaxed);
                    tracing::debug!(client = %ip, "connection refused: too many from this address");
                    continue;
                }
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let stats = stats.clone();
        stats.open.fetch_add(1, Relaxed);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            stats.open.fetch_sub(1, Relaxed);
            drop((permit, slot));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
