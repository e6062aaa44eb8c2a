//! MongoDB faults: unreachable at start, lost while running, back again.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{fixtures, Server};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process killed when dropped (also when a test fails half-way).
struct Running(Child);

impl Running {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A MongoDB-protocol test server of our own (file-backed, so it can be restarted).
fn mongo_server(port: u16, dir: &Path) -> Running {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mongo-test-server.sh");
    let child = Running(
        Command::new("bash")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the MongoDB test server"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "the MongoDB test server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

#[test]
fn unreachable_mongodb_stops_start_up_quickly_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = json!({"port": 0, "database": {"engine": "mongo", "single_host": true, "mongo": format!("mongodb://127.0.0.1:{port}/x"),
                                                "timeout_ms": 1000}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let started = Instant::now();
    let out = Command::new(common::binary())
        .arg("--config")
        .arg(dir.path().join("config.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started without its database");
    assert!(took < Duration::from_secs(10), "took {took:?} to give up");
    assert!(err.contains("MongoDB") && err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn losing_mongodb_gives_503_and_service_comes_back_with_it() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut mongo = mongo_server(port, data.path());
    let s = Server::start(json!({"database": {"engine": "mongo", "blob": "mongo", "timeout_ms": 1000,
                                              "mongo": format!("mongodb://127.0.0.1:{port}/faults")}}));
    let (status, up) = s.upload(&[("a.png", fixtures::png(8, 8, 1), "image/png")]).await;
    assert_eq!(status, 200, "{up}");
    let name = up["files"][0]["name"].as_str().unwrap().to_string();

    mongo.kill();
    let started = Instant::now();
    let (status, body) = s.get("/api/image_list").await;
    assert_eq!((status, body["code"].as_str()), (503, Some("store_unavailable")), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, body) = s.upload(&[("b.png", fixtures::png(8, 8, 2), "image/png")]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "error");
    let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(s.http.get(s.at("/readyz")).send().await.unwrap().status(), 503);
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());

    // Back again: the same server process recovers, nothing was lost, nothing half-stored.
    let _mongo_again = mongo_server(port, data.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, list) = s.get("/api/image_list").await;
        if status == 200 {
            assert_eq!(list["total"], 1, "{list}");
            assert_eq!(list["data"][0]["name"], name.as_str());
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {status} {list}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().to_vec(), fixtures::png(8, 8, 1));
    assert_eq!(s.upload(&[("b.png", fixtures::png(8, 8, 2), "image/png")]).await.0, 200);
}

/// Sends a signal to a process.
fn signal(pid: u32, name: &str) {
    assert!(Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap().success());
}

#[tokio::test]
async fn a_hung_mongodb_gives_503_within_the_timeout_and_nothing_blocks() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mongo = mongo_server(port, data.path());
    let s = Server::start(json!({"database": {"engine": "mongo", "blob": "mongo", "timeout_ms": 800,
                                              "mongo": format!("mongodb://127.0.0.1:{port}/hung")},
                                 "server": {"image_zip": true}}));
    let (status, up) = s.upload(&[("a.png", fixtures::png(8, 8, 1), "image/png")]).await;
    assert_eq!(status, 200, "{up}");
    let name = up["files"][0]["name"].as_str().unwrap().to_string();

    // The server stops answering but keeps its connections open: every request that
    // needs it must give up within the timeout, not hang.
    signal(mongo.0.id(), "STOP");
    let bounded = |started: Instant| {
        let took = started.elapsed();
        assert!(took < Duration::from_millis(800 * 3 + 1500), "took {took:?}");
    };
    let started = Instant::now();
    let (status, body) = s.get("/api/image_list").await;
    assert_eq!((status, body["code"].as_str()), (503, Some("store_unavailable")), "{body}");
    bounded(started);
    let started = Instant::now();
    let (status, body) = s.upload(&[("b.png", fixtures::png(8, 8, 2), "image/png")]).await;
    assert_eq!(status, 503, "{body}");
    bounded(started);
    let started = Instant::now();
    let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 503);
    bounded(started);
    let started = Instant::now();
    assert_eq!(s.http.get(s.at("/readyz")).send().await.unwrap().status(), 503);
    bounded(started);
    // Requests that need no database still answer at once.
    let started = Instant::now();
    assert_eq!(s.http.get(s.at("/healthz")).send().await.unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());

    signal(mongo.0.id(), "CONT");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, list) = s.get("/api/image_list").await;
        if status == 200 {
            assert_eq!(list["total"], 1, "{list}");
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {status} {list}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(s.upload(&[("b.png", fixtures::png(8, 8, 2), "image/png")]).await.0, 200);
    drop(mongo);
}
