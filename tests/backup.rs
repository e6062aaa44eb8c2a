//! `imgbed backup` while uploads and deletes go on, and `imgbed restore` into a new folder.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Server;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn run(args: &[&str]) -> Output {
    Command::new(common::binary()).args(args).output().unwrap()
}

/// Runs a tool that must succeed; its JSON report.
fn tool(args: &[&str]) -> Value {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs a tool that must fail; its error text.
fn failing(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// name → (size, digest) of every record in a backup's database.
fn backup_records(dir: &Path) -> BTreeMap<String, (u64, String)> {
    let conn = rusqlite::Connection::open(dir.join("imgbed.db")).unwrap();
    let mut stmt = conn.prepare("SELECT name, size, digest FROM images").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get::<_, i64>(1)? as u64, r.get(2)?)))).unwrap();
    rows.map(Result::unwrap).collect()
}

/// Every name the server lists for the (anonymous) uploader.
async fn listed(s: &Server) -> (u64, HashSet<String>) {
    let mut names = HashSet::new();
    let mut total = 0;
    for page in 1.. {
        let (status, body) = s.get(&format!("/api/image_list?per_page=100&page={page}")).await;
        assert_eq!(status, 200, "{body}");
        total = body["total"].as_u64().unwrap();
        let items = body["data"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        names.extend(items.iter().map(|r| r["name"].as_str().unwrap().to_string()));
    }
    (total, names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_restores_every_record_with_its_file() {
    let s = Arc::new(Server::start(json!({})));
    let mut before = Vec::new();
    for seed in 0..20 {
        before.push(s.upload_png(1_000 + seed).await);
    }
    let config = s.path().join("config.json");
    let config = config.to_str().unwrap();

    // Load: uploads with distinct seeds, and deletes of some of them, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for task in 0..3u64 {
        let (s, stop, done) = (s.clone(), stop.clone(), done.clone());
        load.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                mine.push(s.upload_png(100_000 * (task + 1) + i).await);
                if i % 3 == 2 {
                    let name = mine.remove(0);
                    let (status, body) = s.post_json("/api/image_delete", &json!({"name": name})).await;
                    assert_eq!(status, 200, "{body}");
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while done.load(Ordering::SeqCst) < 6 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("backup");
    let dir_s = dir.to_str().unwrap().to_string();
    let args: Vec<String> = ["backup", "--config", config, &dir_s].map(String::from).into();
    let at_start = done.load(Ordering::SeqCst);
    let report =
        tokio::task::spawn_blocking(move || tool(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap();
    let during = done.load(Ordering::SeqCst) - at_start;
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.await.unwrap();
    }
    eprintln!("{during} uploads finished while the backup ran: {report}");
    let manifest = &report["manifest"];

    // The backup: every record with its file, the manifest's counts, nothing else.
    let records = backup_records(&dir);
    assert_eq!(manifest["images"].as_u64(), Some(records.len() as u64), "{report}");
    assert_eq!(manifest["bytes"].as_u64(), Some(records.values().map(|(size, _)| size).sum()), "{report}");
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["source_engine"], common::engine());
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(&on_disk, manifest);
    for (name, (size, digest)) in &records {
        let bytes = std::fs::read(dir.join("images").join(name)).unwrap();
        assert_eq!((bytes.len() as u64, &sha256(&bytes)), (*size, digest), "{name}");
    }
    for name in &before {
        assert!(records.contains_key(name), "{name}, stored before the backup, is missing");
    }
    // Stored names never start with a dot (the folder's store marker does).
    let mut files: Vec<String> = std::fs::read_dir(dir.join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    files.sort();
    assert_eq!(files, records.keys().cloned().collect::<Vec<_>>(), "only the records' files");
    assert!(!dir.join(".snapshot.db").exists());

    // Not into a folder that has something in it.
    let err = failing(&["backup", "--config", config, &dir_s]);
    assert!(err.contains("not empty"), "{err}");
    drop(s);

    // Restore into a brand-new install on the engine under test.
    let new = tempfile::tempdir().unwrap();
    let mut new_config =
        json!({"port": 0, "log": {"level": "warn"}, "auth": {"jwt": false}, "ip_filter": {"enabled": false}});
    for (k, v) in common::engine_config().as_object().unwrap() {
        new_config[k] = v.clone();
    }
    let new_config_path = new.path().join("config.json");
    std::fs::write(&new_config_path, serde_json::to_vec_pretty(&new_config).unwrap()).unwrap();
    let new_config_path = new_config_path.to_str().unwrap().to_string();
    let restored = tool(&["restore", "--config", &new_config_path, &dir_s]);
    assert_eq!(restored["verified"], manifest["images"], "{restored}");
    assert_eq!(restored["restored"]["images"], manifest["images"], "{restored}");

    // Not into storage that has something in it; nothing is changed.
    let err = failing(&["restore", "--config", &new_config_path, &dir_s]);
    assert!(err.contains("not empty"), "{err}");
    // Not from a folder that is not a backup.
    let err = failing(&["restore", "--config", &new_config_path, root.path().to_str().unwrap()]);
    assert!(err.contains("not a finished backup"), "{err}");

    let r = Server::start_in(new);
    let (total, names) = listed(&r).await;
    assert_eq!(total, records.len() as u64);
    assert_eq!(names, records.keys().cloned().collect::<HashSet<_>>());
    for (name, (_, digest)) in &records {
        let res = r.http.get(r.at(&format!("/images/{name}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "{name}");
        assert_eq!(&sha256(&res.bytes().await.unwrap()), digest, "{name}");
    }
}

/// The engine under test, with files in MongoDB on the MongoDB run.
fn engine_with_blobs() -> Value {
    let mut config = common::engine_config();
    if common::engine() == "mongo" {
        config["database"]["blob"] = json!("mongo");
    }
    config
}

#[tokio::test]
async fn backup_keeps_accounts_bans_thumbnails_and_files_in_mongodb() {
    const SECRET: &str = "a-secret-kept-beside-the-backup";
    let mut config = engine_with_blobs();
    config["auth"] = json!({"jwt": true, "secret": SECRET});
    config["server"] = json!({"image_zip": true});
    let s = Server::start(config.clone());
    let (_, body) = s.post_json("/api/get_token", &json!({"mail": "ann@example.org"})).await;
    let token = body["token"].as_str().unwrap().to_string();
    let mut originals = Vec::new();
    for seed in [7, 8] {
        let part = reqwest::multipart::Part::bytes(common::fixtures::png(120, 80, seed)).file_name("a.png");
        let form = reqwest::multipart::Form::new().part("file", part);
        let res = s.http.post(s.at(&format!("/api/image_upload?token={token}"))).multipart(form).send().await.unwrap();
        let (status, up) = common::answer(res).await;
        assert_eq!(status, 200, "{up}");
        let name = up["files"][0]["name"].as_str().unwrap().to_string();
        let bytes = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap().bytes().await.unwrap();
        originals.push((name, bytes.to_vec()));
    }
    s.post_json("/api/get_token", &json!({"mail": "bob@example.org"})).await;
    let res = s
        .http
        .post(s.at("/api/admin/remove_user"))
        .bearer_auth(s.admin_token())
        .json(&json!({"mail": "bob@example.org", "ban": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("b");
    let config_path = s.path().join("config.json");
    let report = tool(&["backup", "--config", config_path.to_str().unwrap(), dir.to_str().unwrap()]);
    let manifest = &report["manifest"];
    let counts = ["users", "bans", "images", "bytes"].map(|k| manifest[k].as_u64().unwrap());
    let bytes: u64 = originals.iter().map(|(_, b)| b.len() as u64).sum();
    assert_eq!(counts, [1, 1, 2, bytes], "{report}");
    assert_eq!(manifest["thumbnails"], true);
    for (name, _) in &originals {
        assert!(dir.join("thumbs").join(format!("{name}.png")).is_file(), "thumbnail of {name}");
    }
    drop(s);

    let new = tempfile::tempdir().unwrap();
    config["port"] = json!(0);
    config["log"] = json!({"level": "warn"});
    config["ip_filter"] = json!({"enabled": false});
    let fresh = engine_with_blobs();
    if let Some(db) = fresh.get("database") {
        config["database"] = db.clone();
    }
    let new_config = new.path().join("config.json");
    std::fs::write(&new_config, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    tool(&["restore", "--config", new_config.to_str().unwrap(), dir.to_str().unwrap()]);

    // Same secret: the same token works; the ban holds; files and thumbnails are served.
    let r = Server::start_in(new);
    let res = r.http.get(r.at(&format!("/api/image_list?token={token}"))).send().await.unwrap();
    let (status, list) = common::answer(res).await;
    assert_eq!((status, list["total"].as_u64()), (200, Some(2)), "{list}");
    for (name, bytes) in &originals {
        let res = r.http.get(r.at(&format!("/images/{name}"))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(&res.bytes().await.unwrap().to_vec(), bytes);
        let res = r.http.get(r.at(&format!("/thumbs/{name}.png"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "thumbnail of {name}");
    }
    let got = r.post_json("/api/get_token", &json!({"mail": "bob@example.org"})).await;
    common::assert_error(&got, 403, "banned");
    if common::engine() == "mongo" {
        assert!(r.stored_files().is_empty(), "files went into MongoDB, not the folder");
    }
}

#[tokio::test]
async fn a_file_that_does_not_match_its_record_fails_backup_and_restore() {
    let s = Server::start(json!({}));
    let (a, b) = (s.upload_png(51).await, s.upload_png(52).await);
    let config = s.path().join("config.json");
    let config = config.to_str().unwrap();
    let root = tempfile::tempdir().unwrap();
    let good = root.path().join("good");
    tool(&["backup", "--config", config, good.to_str().unwrap()]);

    // A stored file changed behind the server's back: the backup says so and fails.
    common::plant(s.path(), "images", &a, &common::fixtures::png(8, 8, 99));
    let bad = root.path().join("bad");
    let err = failing(&["backup", "--config", config, bad.to_str().unwrap()]);
    assert!(err.contains("do not match") && err.contains(&a), "{err}");
    assert!(!bad.join("manifest.json").exists(), "not a finished backup");
    drop(s);

    // A backup file changed afterwards: the restore's copy (which checks each file's digest
    // against its record) refuses to bring it over.
    std::fs::write(good.join("images").join(&b), common::fixtures::png(8, 8, 98)).unwrap();
    let new = tempfile::tempdir().unwrap();
    let mut new_config = json!({"log": {"level": "warn"}});
    for (k, v) in common::engine_config().as_object().unwrap() {
        new_config[k] = v.clone();
    }
    std::fs::write(new.path().join("config.json"), serde_json::to_vec(&new_config).unwrap()).unwrap();
    let err =
        failing(&["restore", "--config", new.path().join("config.json").to_str().unwrap(), good.to_str().unwrap()]);
    assert!(err.contains("could not be restored") && err.contains("not the recorded one") && err.contains(&b), "{err}");
}

/// Every file name under `dir`, at any depth.
fn file_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        match entry.file_type().unwrap().is_dir() {
            true => out.extend(file_names(&entry.path())),
            false => out.push(entry.file_name().to_string_lossy().into_owned()),
        }
    }
    out
}

#[tokio::test]
async fn variants_are_left_out_of_a_backup_and_made_again_after_a_restore() {
    let mut config = engine_with_blobs();
    config["variants"] = json!({"enabled": true});
    let s = Server::start(config.clone());
    let (status, body) = s.upload(&[("photo.jpg", common::fixtures::jpeg(600, 400, 3), "image/jpeg")]).await;
    assert_eq!(status, 200, "{body}");
    let name = body["files"][0]["name"].as_str().unwrap().to_string();
    let variant = format!("/images/{name}?w=160&format=png");
    let made = s.http.get(s.at(&variant)).send().await.unwrap();
    assert_eq!(made.status(), 200);
    let made = made.bytes().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("b");
    let config_path = s.path().join("config.json");
    tool(&["backup", "--config", config_path.to_str().unwrap(), dir.to_str().unwrap()]);
    let names = file_names(&dir);
    assert!(names.contains(&name), "the original is backed up: {names:?}");
    let variant_key =
        |n: &String| n.len() > 33 && n.as_bytes()[32] == b'.' && n[..32].bytes().all(|b| b.is_ascii_hexdigit());
    assert!(!names.iter().any(variant_key), "no variant in the backup: {names:?}");
    drop(s);

    // Restored elsewhere, the variant is made again on its first request, the same bytes.
    let new = tempfile::tempdir().unwrap();
    let mut new_config = config.clone();
    new_config["port"] = json!(0);
    new_config["log"] = json!({"level": "warn"});
    new_config["auth"] = json!({"jwt": false});
    new_config["ip_filter"] = json!({"enabled": false});
    if let Some(db) = engine_with_blobs().get("database") {
        new_config["database"] = db.clone();
    }
    let new_config_path = new.path().join("config.json");
    std::fs::write(&new_config_path, serde_json::to_vec_pretty(&new_config).unwrap()).unwrap();
    tool(&["restore", "--config", new_config_path.to_str().unwrap(), dir.to_str().unwrap()]);
    let r = Server::start_in(new);
    let again = r.http.get(r.at(&variant)).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.bytes().await.unwrap(), made);
}
