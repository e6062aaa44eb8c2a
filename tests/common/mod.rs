//! Black-box harness: starts the real `imgbed` binary on a free loopback port
//! with a temp config, and talks to it over HTTP.

#![allow(dead_code)]

pub mod fixtures;
pub mod poll;
pub mod s3;
pub mod signing;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// Merges `overrides` into `base` (objects recursively).
fn merge(base: &mut Value, overrides: &Value) {
    match (base, overrides) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The imgbed binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_imgbed")
}

/// The metadata engine the black-box tests run against: `IMGBED_TEST_ENGINE` = "sqlite"
/// (default) or "mongo" (then `IMGBED_TEST_MONGO` must name the test server; no silent skip).
pub fn engine() -> &'static str {
    match std::env::var("IMGBED_TEST_ENGINE").as_deref() {
        Ok("mongo") => "mongo",
        Ok("sqlite") | Err(_) => "sqlite",
        Ok(other) => panic!("IMGBED_TEST_ENGINE={other}: expected sqlite or mongo"),
    }
}

/// A connection string for a fresh, empty database on the MongoDB test server.
pub fn fresh_mongo_uri() -> String {
    let base = std::env::var("IMGBED_TEST_MONGO").expect(
        "IMGBED_TEST_MONGO is not set: run the tests with scripts/test.sh, which starts the MongoDB test server",
    );
    let id: u64 = rand_u64();
    format!("{}/imgbed_test_{id:016x}", base.trim_end_matches('/'))
}

pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

/// The config part that selects the engine under test and where files go (see [`s3::blob`]).
pub fn engine_config() -> Value {
    let mut config = match engine() {
        "mongo" => json!({"database": {"engine": "mongo", "mongo": fresh_mongo_uri(), "single_host": true}}),
        _ => json!({}),
    };
    if s3::blob() == "s3" {
        merge(&mut config, &s3::blob_config());
    }
    config
}

/// With files in S3: the key prefix of the store `part` ("images", "thumbs") of the
/// server whose config is in `dir`.
fn s3_store(dir: &Path, part: &str) -> Option<String> {
    let config: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    (config["database"]["blob"] == "s3")
        .then(|| format!("{}{part}/", config["database"]["s3"]["prefix"].as_str().unwrap_or_default()))
}

/// The bytes stored as `name` in the store `part` ("images", "thumbs") of the server whose
/// config is in `dir` (its folder, or its bucket), if any.
pub fn stored_bytes(dir: &Path, part: &str, name: &str) -> Option<Vec<u8>> {
    match s3_store(dir, part) {
        Some(store) => s3::blob_bytes(&store, &format!("names/{name}")),
        None => std::fs::read(dir.join(part).join(name)).ok(),
    }
}

/// The bytes of the quarantine entry `entry` of the store `part`, if any.
pub fn quarantined_bytes(dir: &Path, part: &str, entry: &str) -> Option<Vec<u8>> {
    match s3_store(dir, part) {
        Some(store) => s3::blob_bytes(&store, &format!("quarantine/{entry}")),
        None => std::fs::read(dir.join(part).join("quarantine").join(entry)).ok(),
    }
}

/// Stores `bytes` as `name` in the store `part` behind the server's back (in its folder,
/// or in its bucket as the server would).
pub fn plant(dir: &Path, part: &str, name: &str, bytes: &[u8]) {
    match s3_store(dir, part) {
        Some(store) => s3::put_blob(&store, name, bytes.to_vec()),
        None => std::fs::write(dir.join(part).join(name), bytes).unwrap(),
    }
}

impl Server {
    /// Starts a server with the default config plus `overrides`, on the engine under test
    /// (see [`engine`]). Token checks and the IP filter are off unless the overrides turn
    /// them on (`{"auth": {"jwt": true}}`).
    pub fn start(overrides: Value) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            json!({"port": 0, "log": {"level": "warn"}, "auth": {"jwt": false}, "ip_filter": {"enabled": false}});
        merge(&mut config, &engine_config());
        merge(&mut config, &overrides);
        let path = dir.path().join("config.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        // Private, as the server wants it (it warns about a config others can read).
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        Self::start_in(dir)
    }

    /// Starts a server on the `config.json` already in `dir`.
    pub fn start_in(dir: tempfile::TempDir) -> Server {
        let mut child = Command::new(binary())
            .arg("--config")
            .arg(dir.path().join("config.json"))
            .arg("--port")
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start imgbed");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(url) = line.strip_prefix("imgbed listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("imgbed did not start: {:?}", child.wait());
            }
        };
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Server { child, url, dir, http }
    }

    /// Stops the server, keeping its folder (to restart on the same data).
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// Sends a signal (e.g. "HUP") to the server process.
    pub fn signal(&self, name: &str) {
        let ok =
            Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap().success();
        assert!(ok, "kill -{name} failed");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn images_dir(&self) -> PathBuf {
        self.path().join("images")
    }

    /// The config the server was started with.
    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path().join("config.json")).unwrap()).unwrap()
    }

    /// With files in S3: the key prefix of this server's images (`{prefix}images/`).
    fn s3_images(&self) -> Option<String> {
        s3_store(self.path(), "images")
    }

    /// Names stored in the store `part` ("images", "thumbs", "variants") when its files are in
    /// the bucket; `None` when they are in local folders.
    pub fn s3_names(&self, part: &str) -> Option<Vec<String>> {
        s3_store(self.path(), part).map(|store| s3::keys_under(&format!("{store}names/")))
    }

    /// Stored files: in the image folder (not the temp area), or named in the bucket.
    pub fn stored_files(&self) -> Vec<String> {
        match self.s3_images() {
            Some(images) => s3::keys_under(&format!("{images}names/")),
            None => self.local_files(),
        }
    }

    /// Files in the local image folder (not the temp area), wherever stored files live.
    pub fn local_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.images_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            // Dot-files are the server's own (the store marker), never stored names.
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// Files moved to quarantine (`images/quarantine/`, in the folder or the bucket).
    pub fn quarantined_files(&self) -> Vec<String> {
        if let Some(images) = self.s3_images() {
            return s3::keys_under(&format!("{images}quarantine/"));
        }
        let mut names: Vec<String> = std::fs::read_dir(self.images_dir().join("quarantine"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Waits (bounded) until start-up reconciliation is done; returns `/readyz`'s report of it.
    pub async fn reconciled(&self) -> Value {
        for _ in 0..300 {
            let (_, body) = self.get("/readyz").await;
            let r = &body["data"]["reconciliation"];
            if r["state"] == "done" {
                return r.clone();
            }
            assert_ne!(r["state"], "failed", "{body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("reconciliation did not finish");
    }

    /// Files left in the temp area.
    pub fn temp_files(&self) -> Vec<String> {
        std::fs::read_dir(self.images_dir().join(".tmp"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    /// The raw bytes of the metadata database (SQLite file and WAL, or the MongoDB test
    /// server's own file), to check what is and is not stored.
    pub fn database_bytes(&self) -> Vec<u8> {
        let files: Vec<PathBuf> = match engine() {
            "mongo" => {
                // The test server keeps one SQLite file per database in IMGBED_TEST_MONGO_DIR.
                let dir = PathBuf::from(std::env::var("IMGBED_TEST_MONGO_DIR").expect("IMGBED_TEST_MONGO_DIR"));
                let config: Value =
                    serde_json::from_slice(&std::fs::read(self.path().join("config.json")).unwrap()).unwrap();
                let uri = config["database"]["mongo"].as_str().unwrap().to_string();
                let db = uri.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
                let file = dir.join(format!("{db}.db"));
                vec![file.clone(), PathBuf::from(format!("{}-wal", file.display()))]
            }
            _ => vec![self.path().join("imgbed.db"), self.path().join("imgbed.db-wal")],
        };
        files.iter().flat_map(|f| std::fs::read(f).unwrap_or_default()).collect()
    }

    pub fn admin_token(&self) -> String {
        let text = std::fs::read_to_string(self.path().join("secrets.json")).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["admin_token"].as_str().unwrap().to_string()
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Uploads files (name, bytes, content type) in one request; returns status and JSON.
    pub async fn upload(&self, files: &[(&str, Vec<u8>, &str)]) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes, ctype) in files {
            let part =
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()).mime_str(ctype).unwrap();
            form = form.part("file", part);
        }
        let res = self.http.post(self.at("/api/image_upload")).multipart(form).send().await.unwrap();
        answer(res).await
    }

    /// Uploads one PNG and returns its stored name.
    pub async fn upload_png(&self, seed: u64) -> String {
        let (status, body) = self.upload(&[("pic.png", fixtures::png(8, 8, seed), "image/png")]).await;
        assert_eq!(status, 200, "{body}");
        body["files"][0]["name"].as_str().unwrap().to_string()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        answer(self.http.get(self.at(path)).send().await.unwrap()).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        answer(self.http.post(self.at(path)).json(body).send().await.unwrap()).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status and JSON body of an answer; a body that is not JSON fails the test.
pub async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let ctype = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {status}, not JSON ({e}): {text:?}"));
    assert!(ctype.starts_with("application/json"), "content-type {ctype:?} for {text}");
    (status, json)
}

/// Asserts the error envelope: status, `type`, `code`.
pub fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let kind = if status == 401 || status == 403 { "forbidden" } else { "error" };
    assert_eq!(body["type"], kind, "{body}");
    assert!(body["data"].is_string(), "{body}");
}

/// The SMTP server `scripts/test.sh` started (see scripts/test-services.sh).
pub fn smtp() -> (String, u16) {
    let addr = std::env::var("IMGBED_TEST_SMTP")
        .expect("IMGBED_TEST_SMTP is not set: run the tests with scripts/test.sh, which starts the SMTP server");
    let (host, port) = addr.rsplit_once(':').unwrap();
    (host.to_string(), port.parse().unwrap())
}

/// Mail config pointing at the test SMTP server (plain SMTP on loopback).
pub fn mail_config() -> Value {
    let (host, port) = smtp();
    json!({"mail": {"host": host, "port": port, "tls": "none", "from": "imgbed@example.org", "timeout_s": 5}})
}

/// Waits (bounded) for a message to `to` in the test Maildir, takes it out of the Maildir and
/// returns (subject, text body).
pub fn wait_for_mail(to: &str) -> (String, String) {
    let dir = std::path::PathBuf::from(
        std::env::var("IMGBED_TEST_MAILDIR").expect("IMGBED_TEST_MAILDIR (run scripts/test.sh)"),
    );
    for _ in 0..100 {
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
            for e in entries.flatten() {
                let raw = std::fs::read(e.path()).unwrap();
                let Some(msg) = mail_parser::MessageParser::default().parse(&raw) else { continue };
                let to_matches = msg.to().and_then(|a| a.first()).and_then(|a| a.address()).is_some_and(|a| a == to);
                if to_matches {
                    let subject = msg.subject().unwrap_or_default().to_string();
                    let body = msg.body_text(0).unwrap_or_default().to_string();
                    // Taken out of the box: a later run (the other engine) or a second mail to the
                    // same address never finds this one again.
                    let _ = std::fs::remove_file(e.path());
                    return (subject, body);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no mail to {to} arrived");
}

/// Whether any message to `to` is in the test Maildir.
pub fn has_mail(to: &str) -> bool {
    let dir = std::path::PathBuf::from(std::env::var("IMGBED_TEST_MAILDIR").unwrap());
    std::fs::read_dir(dir.join("new"))
        .map(|d| {
            d.flatten().any(|e| {
                let raw = std::fs::read(e.path()).unwrap_or_default();
                String::from_utf8_lossy(&raw).contains(to)
            })
        })
        .unwrap_or(false)
}
