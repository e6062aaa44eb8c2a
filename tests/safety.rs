//! Nothing lost: start-up never destroys data, dangerous layouts are refused before
//! anything is touched, files and records are reconciled by quarantine and report,
//! deletes happen only through `imgbed fsck`, secrets are private, and uploads racing
//! an account removal or a dropped request leave nothing behind.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::poll::until;
use common::{assert_error, fixtures, Server};
use serde_json::{json, Value};

const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");

/// Runs the binary to completion (it must exit by itself: a refused start-up).
fn run_to_exit(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(common::binary())
        .arg("--config")
        .arg(dir.join("config.json"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            return (out.status.success(), text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("imgbed did not exit (it should have refused to start)");
}

/// How long the test policy's spin (counted in work, not time) takes here: one upload of
/// a file whose name starts with `slow`.
async fn spin_time(s: &Server, token: Option<&str>) -> Duration {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(fixtures::png(8, 8, 99)).file_name("slow-calibrate.png"));
    let mut req = s.http.post(s.at("/api/image_upload")).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let started = std::time::Instant::now();
    let (status, body) = common::answer(req.send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let took = started.elapsed();
    assert!(took > Duration::from_millis(400), "the test policy's spin takes only {took:?} here: raise test.slow_ms");
    took
}

fn fsck(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["fsck", "--min-age-s", "0"];
    all.extend_from_slice(args);
    let (ok, out) = run_to_exit(dir, &all);
    assert!(ok, "{out}");
    let start = out.find('{').unwrap_or_else(|| panic!("no JSON in {out}"));
    serde_json::from_str(&out[start..out.rfind('}').unwrap() + 1]).unwrap()
}

fn set_config(dir: &Path, change: Value) {
    let path = dir.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (section, values) in change.as_object().unwrap() {
        for (k, v) in values.as_object().unwrap() {
            config[section][k] = v.clone();
        }
    }
    std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

async fn names(s: &Server) -> Vec<String> {
    let (status, body) = s.get("/api/image_list?per_page=100").await;
    assert_eq!(status, 200, "{body}");
    let mut out: Vec<String> =
        body["data"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().into()).collect();
    out.sort();
    out
}

async fn served(s: &Server, name: &str) -> Vec<u8> {
    let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 200, "{name}");
    res.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_missing_image_folder_is_refused_and_nothing_is_lost_when_it_comes_back() {
    let s = Server::start(json!({}));
    let (a, b) = (s.upload_png(1).await, s.upload_png(2).await);
    let dir = s.stop();
    let images = dir.path().join("images");
    std::fs::rename(&images, dir.path().join("elsewhere")).unwrap();
    // The disk is not mounted: refused, with a clear message, and nothing created.
    let (ok, out) = run_to_exit(dir.path(), &["--port", "0"]);
    assert!(!ok && out.contains(".imgbed-store") && out.contains("mounted"), "{out}");
    assert!(!images.exists(), "start-up created the image folder");
    // An empty mount point: refused too.
    std::fs::create_dir(&images).unwrap();
    let (ok, out) = run_to_exit(dir.path(), &["--port", "0"]);
    assert!(!ok && out.contains(".imgbed-store"), "{out}");
    // The disk is back: every record and file is there.
    std::fs::remove_dir(&images).unwrap();
    std::fs::rename(dir.path().join("elsewhere"), &images).unwrap();
    let s = Server::start_in(dir);
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(names(&s).await, both);
    assert_eq!(s.reconciled().await["missing_files"], 0);
    assert_eq!(served(&s, &a).await, fixtures::png(8, 8, 1));
    assert_eq!(s.stored_files(), both);
}

#[tokio::test]
async fn overlapping_places_are_refused_before_anything_is_touched() {
    let s = Server::start(json!({"server": {"image_zip": true}}));
    let a = s.upload_png(3).await;
    let dir = s.stop();
    let before = std::fs::read_dir(dir.path().join("images")).unwrap().count();
    // Thumbnails in the image folder.
    set_config(dir.path(), json!({"server": {"image_zip_path": "images"}}));
    let (ok, out) = run_to_exit(dir.path(), &["--port", "0"]);
    assert!(!ok && out.contains("server.image_zip_path") && out.contains("same place"), "{out}");
    let (ok, out) = run_to_exit(dir.path(), &["config", "check"]);
    assert!(!ok && out.contains("unsafe storage layout"), "{out}");
    // The image folder is the data folder: config, secrets and database among the images.
    set_config(dir.path(), json!({"server": {"image_path": ".", "image_zip_path": ""}}));
    let (ok, out) = run_to_exit(dir.path(), &["--port", "0"]);
    assert!(!ok && out.contains("config file") && out.contains("server.image_path"), "{out}");
    let own: &[&str] = if common::engine() == "sqlite" {
        &["config.json", "secrets.json", "imgbed.db"]
    } else {
        &["config.json", "secrets.json"]
    };
    for own in own {
        assert!(dir.path().join(own).exists(), "{own} was removed");
    }
    assert_eq!(std::fs::read_dir(dir.path().join("images")).unwrap().count(), before);
    set_config(dir.path(), json!({"server": {"image_path": ""}}));
    let s = Server::start_in(dir);
    assert_eq!(names(&s).await, vec![a]);
}

#[tokio::test]
async fn mongo_with_local_files_needs_the_single_host_statement() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"database": {"engine": "mongo", "mongo": "mongodb://127.0.0.1:1/x"}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let (ok, out) = run_to_exit(dir.path(), &["config", "check"]);
    assert!(!ok && out.contains("database.single_host"), "{out}");
}

#[tokio::test]
async fn files_without_records_go_to_quarantine_and_records_without_files_are_reported() {
    let s = Server::start(json!({}));
    let (kept, lost) = (s.upload_png(4).await, s.upload_png(5).await);
    let dir = s.stop();
    let images = dir.path().join("images");
    std::fs::remove_file(images.join(&lost)).unwrap();
    std::fs::write(images.join("stray.png"), b"left by a crash").unwrap();
    let s = Server::start_in(dir);
    let report = s.reconciled().await;
    assert_eq!(report["missing_files"], 1, "{report}");
    assert_eq!(report["missing_sample"], json!([lost]), "{report}");
    assert_eq!(report["quarantined"], 1, "{report}");
    // Kept: the record (still listed), the stray file (in quarantine, same bytes).
    let mut both = vec![kept.clone(), lost.clone()];
    both.sort();
    assert_eq!(names(&s).await, both);
    assert_eq!(s.quarantined_files(), vec!["stray.png".to_string()]);
    assert_eq!(std::fs::read(s.images_dir().join("quarantine/stray.png")).unwrap(), b"left by a crash");
    let metrics = s.http.get(s.at("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("imgbed_records_missing_files 1"), "{metrics}");
    // A restart changes nothing.
    let s = Server::start_in(s.stop());
    assert_eq!(s.reconciled().await["missing_files"], 1);
    assert_eq!(names(&s).await.len(), 2);
    // fsck: a dry run reports; --repair deletes the record; --purge-quarantine the file.
    let found = fsck(s.path(), &[]);
    assert_eq!(found["dry_run"], true);
    assert_eq!(found["missing_files"], json!([lost]));
    assert_eq!(found["quarantined"], json!(["quarantine/stray.png"]));
    assert_eq!(names(&s).await.len(), 2, "a dry run changed something");
    let repaired = fsck(s.path(), &["--repair"]);
    assert!(repaired["actions"].to_string().contains(&format!("deleted the record {lost}")), "{repaired}");
    assert_eq!(names(&s).await, vec![kept.clone()]);
    assert_eq!(s.quarantined_files().len(), 1);
    fsck(s.path(), &["--purge-quarantine"]);
    assert!(s.quarantined_files().is_empty());
    assert_eq!(served(&s, &kept).await, fixtures::png(8, 8, 4));
}

#[tokio::test]
async fn secrets_and_the_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No config yet: the server writes it.
    let mut child = Command::new(common::binary())
        .arg("--config")
        .arg(data.join("config.json"))
        .args(["--port", "0"])
        .env("IMGBED__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
    for f in ["config.json", "secrets.json", "imgbed.db", "imgbed.db-wal"] {
        let mode = std::fs::metadata(data.join(f)).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.unwrap_or_else(|e| panic!("{f}: {e}")), 0o600, "{f}");
    }
    // A config others can read gets a warning at start (and in `config check`).
    std::fs::set_permissions(data.join("config.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, out) = run_to_exit(&data, &["config", "check"]);
    assert!(ok && out.contains("chmod 600") && out.contains("config.json"), "{out}");
}

#[tokio::test]
async fn an_account_removed_during_its_upload_keeps_nothing() {
    let s = Server::start(json!({"auth": {"jwt": true}, "policy": {"path": TEST_POLICY,
                                  "settings": {"test.slow_ms": "8000"}, "deadline_ms": 60000}}));
    let (_, cal) = s.post_json("/api/get_token", &json!({"mail": "calibrate@example.org"})).await;
    let spin = spin_time(&s, cal["token"].as_str()).await;
    let (_, body) = s.post_json("/api/get_token", &json!({"mail": "gone@example.org"})).await;
    let token = body["token"].as_str().unwrap().to_string();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(fixtures::png(8, 8, 6)).file_name("slow.png").mime_str("image/png").unwrap(),
    );
    let earlier = s.temp_files();
    let upload = s.http.post(s.at(&format!("/api/image_upload?token={token}"))).multipart(form).send();
    // The account goes while the policy is still inspecting the upload: once the upload is
    // in the temp area, the policy spins for about `spin` before anything is stored.
    let remove = async {
        let received = until(spin * 4, async || s.temp_files().iter().any(|f| !earlier.contains(f))).await;
        assert!(received, "the upload never reached the temp area");
        s.http
            .post(s.at("/api/remove_token"))
            .json(&json!({"mail": "gone@example.org", "token": &token}))
            .send()
            .await
            .unwrap()
    };
    let (uploaded, removed) = tokio::join!(upload, remove);
    assert_eq!(removed.status(), 200);
    assert_error(&common::answer(uploaded.unwrap()).await, 403, "account_removed");
    assert_eq!(s.stored_files().len(), 1, "only the calibration upload: {:?}", s.stored_files());
    // The same mail registers again: no image of the old account shows.
    let (_, body) = s.post_json("/api/get_token", &json!({"mail": "gone@example.org"})).await;
    let token = body["token"].as_str().unwrap();
    let (_, list) = s.get(&format!("/api/image_list?token={token}")).await;
    assert_eq!(list["total"], 0, "{list}");
}

#[tokio::test]
async fn a_request_dropped_while_its_files_are_stored_leaves_nothing() {
    let s = Server::start(json!({"policy": {"path": TEST_POLICY, "settings": {"test.slow_ms": "8000"},
                                            "deadline_ms": 60000}}));
    let spin = spin_time(&s, None).await;
    let calibration = s.stored_files();
    // Takes the name the next `clash` file asks for first.
    let (status, body) = s.upload(&[("clash-first.png", fixtures::png(8, 8, 7), "image/png")]).await;
    assert_eq!((status, body["files"][0]["name"].as_str()), (200, Some("t-clash.png")), "{body}");
    let before = s.stored_files();
    // Two files: the first is stored, the second clashes and its new name takes the
    // policy one spin.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(fixtures::png(8, 8, 8)).file_name("fine.png"))
        .part("file", reqwest::multipart::Part::bytes(fixtures::png(8, 8, 9)).file_name("clash-second.png"));
    // The client gives up once the first file is stored: the policy then spins for about
    // `spin` naming the second.
    tokio::select! {
        answer = s.http.post(s.at("/api/image_upload")).multipart(form).send() => {
            panic!("answered before the first file was stored: {answer:?}")
        }
        stored = until(spin * 4, async || s.stored_files().len() > before.len()) => assert!(stored, "nothing stored"),
    }
    // Dropped while storing: the first file is in (the policy is still naming the second).
    assert_eq!(s.stored_files().len(), before.len() + 1, "not dropped while storing: {:?}", s.stored_files());
    // Once the policy is done, the request's task takes back what it stored.
    until(spin * 4 + Duration::from_secs(20), async || s.stored_files() == before && s.temp_files().is_empty()).await;
    assert_eq!(s.stored_files(), before);
    assert!(s.temp_files().is_empty(), "temp files left: {:?}", s.temp_files());
    let mut listed = names(&s).await;
    listed.retain(|n| !calibration.contains(n));
    assert_eq!(listed, vec!["t-clash.png".to_string()]);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_nothing() {
    use tokio::io::AsyncWriteExt;
    let s = Server::start(json!({}));
    let addr = s.url.trim_start_matches("http://").to_string();
    // Half of a small part is still in memory; half of a large one already in its file.
    for (size, on_disk) in [(400_000, false), (1_400_000, true)] {
        let png = fixtures::png_of_size(size, 800);
        let boundary = "XyZbOuNdArY";
        let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n");
        let total = head.len() + png.len() + boundary.len() + 8;
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "POST /api/image_upload HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n{head}"
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        conn.write_all(&png[..png.len() / 2]).await.unwrap();
        conn.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(!s.temp_files().is_empty(), on_disk, "{size} bytes: {:?}", s.temp_files());
        drop(conn);
        // The server notices, removes the partial temp file, and keeps serving.
        let clean = until(Duration::from_secs(5), async || s.temp_files().is_empty()).await;
        assert!(clean, "temp files left: {:?}", s.temp_files());
        assert!(s.stored_files().is_empty());
        assert_eq!(s.get("/api/image_list").await.1["total"], 0);
    }
    s.upload_png(801).await;
}

#[tokio::test]
async fn start_up_clears_temp_files_and_keeps_everything_else() {
    let s = Server::start(json!({}));
    let kept = s.upload_png(900).await;
    let lost = s.upload_png(901).await;
    let dir = s.stop();
    std::fs::remove_file(dir.path().join("images").join(&lost)).unwrap();
    std::fs::write(dir.path().join("images").join("orphan.png"), b"left by a crash").unwrap();
    std::fs::write(dir.path().join("images/.tmp").join("abc.part"), b"half").unwrap();
    let s = Server::start_in(dir);
    // A temp file was never answered: gone. The record without its file is kept and
    // reported; the file without a record is moved aside (tests/safety.rs has the rest).
    assert!(s.temp_files().is_empty());
    assert_eq!(s.reconciled().await["missing_files"], 1);
    assert_eq!(s.stored_files(), vec![kept.clone()]);
    assert_eq!(s.quarantined_files(), vec!["orphan.png".to_string()]);
    let (_, list) = s.get("/api/image_list").await;
    assert_eq!(list["total"], 2);
}

#[tokio::test]
async fn a_full_disk_is_answered_with_507_and_leaves_nothing() {
    let s = Server::start(json!({"server": {"image_path": "small"}}));
    let small = s.path().join("small");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    if !mounted {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root and must be able to mount a tmpfs");
        eprintln!("skipping: cannot mount a tmpfs here (not root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(small.clone());
    std::fs::create_dir_all(small.join(".tmp")).unwrap();
    let got = s.upload(&[("big.png", fixtures::png_of_size(600_000, 950), "image/png")]).await;
    assert_error(&got, 507, "storage_full");
    assert_eq!(std::fs::read_dir(small.join(".tmp")).unwrap().count(), 0);
    assert_eq!(s.get("/api/image_list").await.1["total"], 0);
}
