//! A loopback TCP proxy in front of the S3 test server that can pass traffic on, refuse
//! it (S3 unreachable: connections closed, open ones cut) or hold it (S3 hung: accepted,
//! never answered) — the faults the store must turn into bounded 503s. It also counts
//! the requests it passes on: each signed S3 request carries one `Authorization:
//! AWS4-HMAC-SHA256 Credential=…` header, counted in the bytes sent upstream.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const PASS: u8 = 0;
const REFUSE: u8 = 1;
const HOLD: u8 = 2;

pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    /// Bumped to cut every open connection.
    cut: watch::Sender<u64>,
    requests: Arc<AtomicU64>,
}

/// What marks one signed request in the bytes a client sends.
const SIGNED: &[u8] = b"AWS4-HMAC-SHA256 Credential=";

/// Copies `from` to `to`, counting the signed requests in it (a mark may straddle two reads).
async fn count_into(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    requests: &AtomicU64,
) -> std::io::Result<()> {
    let (mut buf, mut tail) = (vec![0u8; 64 << 10], Vec::new());
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        tail.extend_from_slice(&buf[..n]);
        let found = tail.windows(SIGNED.len()).filter(|w| *w == SIGNED).count();
        requests.fetch_add(found as u64, Ordering::SeqCst);
        tail.drain(..tail.len().saturating_sub(SIGNED.len() - 1));
        to.write_all(&buf[..n]).await?;
    }
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`), passing traffic on.
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(PASS));
        let (cut, _) = watch::channel(0u64);
        let requests = Arc::new(AtomicU64::new(0));
        let (m, c, r) = (mode.clone(), cut.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (mode, upstream, mut cut) = (m.load(Ordering::SeqCst), upstream.clone(), c.subscribe());
                let requests = r.clone();
                tokio::spawn(async move {
                    match mode {
                        REFUSE => drop(client),
                        HOLD => {
                            // Accepted, never answered, until the mode changes.
                            let _ = cut.changed().await;
                            drop(client);
                        }
                        _ => {
                            let Ok(server) = TcpStream::connect(&upstream).await else { return };
                            let ((client_in, mut client_out), (mut server_in, server_out)) =
                                (client.into_split(), server.into_split());
                            let up = count_into(client_in, server_out, &requests);
                            let down = async {
                                let _ = tokio::io::copy(&mut server_in, &mut client_out).await;
                                client_out.shutdown().await
                            };
                            tokio::select! {
                                _ = async { tokio::join!(up, down) } => {}
                                _ = cut.changed() => {}
                            }
                        }
                    }
                });
            }
        });
        Proxy { addr, mode, cut, requests }
    }

    /// Signed requests passed on to S3 so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// S3 unreachable: open connections are cut, new ones closed at once.
    pub fn refuse(&self) {
        self.set(REFUSE);
    }

    /// S3 hung: connections are accepted and never answered.
    pub fn hold(&self) {
        self.set(HOLD);
    }

    /// S3 back.
    pub fn pass(&self) {
        self.set(PASS);
    }
}
