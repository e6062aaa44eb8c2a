//! The floor of a durable HTTP upload on this machine: a server that does, for each POST,
//! only what must happen for an answered upload to survive a power loss — take the body
//! over HTTP, write it to a temp file and fsync it, hard-link it under its own name, fsync
//! the folder, insert its record in SQLite (WAL, `synchronous=FULL`, one writer) — then
//! answers 200. No multipart parsing, hashing, validation, policy or naming. Driven by
//! `upload_bench` on the same cores as imgbed, its rate is the most any validating server
//! could do here with the same load generator (`scripts/bench.sh` prints both).
//!
//! cargo run --release -p imgbed-host --example store_floor -- DIR PORT

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;

struct Floor {
    images: PathBuf,
    temp: PathBuf,
    db: Mutex<rusqlite::Connection>,
    next: AtomicU64,
}

fn store(floor: &Floor, body: &[u8]) -> std::io::Result<()> {
    let i = floor.next.fetch_add(1, Ordering::Relaxed);
    let (part, name) = (floor.temp.join(format!("{i}.part")), format!("{i}.png"));
    let mut f = std::fs::File::create_new(&part)?;
    std::io::Write::write_all(&mut f, body)?;
    f.sync_all()?;
    std::fs::hard_link(&part, floor.images.join(&name))?;
    std::fs::remove_file(&part)?;
    std::fs::File::open(&floor.images)?.sync_all()?;
    let db = floor.db.lock().unwrap_or_else(|p| p.into_inner());
    db.execute("INSERT INTO images (name, size) VALUES (?1, ?2)", rusqlite::params![name, body.len() as i64])
        .map_err(std::io::Error::other)?;
    Ok(())
}

async fn upload(State(floor): State<Arc<Floor>>, body: Bytes) -> StatusCode {
    match tokio::task::spawn_blocking(move || store(&floor, &body)).await {
        Ok(Ok(())) => StatusCode::OK,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: store_floor DIR PORT";
    let dir = PathBuf::from(args.get(1).expect(usage));
    let port: u16 = args.get(2).expect(usage).parse().expect(usage);
    let (images, temp) = (dir.join("images"), dir.join("tmp"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&temp).unwrap();
    let db = rusqlite::Connection::open(dir.join("floor.db")).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.pragma_update(None, "synchronous", "FULL").unwrap();
    db.execute("CREATE TABLE IF NOT EXISTS images (id INTEGER PRIMARY KEY, name TEXT UNIQUE, size INTEGER)", [])
        .unwrap();
    let floor = Arc::new(Floor { images, temp, db: Mutex::new(db), next: AtomicU64::new(0) });
    let app =
        Router::new().route("/api/image_upload", post(upload)).layer(DefaultBodyLimit::max(64 << 20)).with_state(floor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("store_floor on http://127.0.0.1:{port}");
    axum::serve(listener, app).await.unwrap();
}
