//! A loopback TCP proxy in front of the S3 test server that can pass traffic on, refuse
//! it (S3 unreachable: connections closed, open ones cut) or hold it (S3 hung: accepted,
//! never answered) — the faults the store must turn into bounded 503s.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

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
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`), passing traffic on.
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(PASS));
        let (cut, _) = watch::channel(0u64);
        let (m, c) = (mode.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (mode, upstream, mut cut) = (m.load(Ordering::SeqCst), upstream.clone(), c.subscribe());
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
                            let (mut client, mut server) = (client, server);
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = cut.changed() => {}
                            }
                        }
                    }
                });
            }
        });
        Proxy { addr, mode, cut }
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
