//! `imgbed migrate` (SQLite + files → MongoDB + chunked blobs) and
//! `imgbed import-original` (the Flask original's SQLite database and image folder).

mod common;

use std::path::Path;
use std::process::Command;

use common::{answer, fixtures, Server};
use serde_json::{json, Value};

const SECRET: &str = "a-secret-shared-by-both-installs";

fn tool(args: &[&str]) -> Value {
    let out = Command::new(common::binary()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn write_config(dir: &Path, config: &Value) -> String {
    let mut base = json!({"port": 0, "log": {"level": "warn"}, "ip_filter": {"enabled": false}});
    if let (Value::Object(b), Value::Object(c)) = (&mut base, config) {
        for (k, v) in c {
            b.insert(k.clone(), v.clone());
        }
    }
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&base).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

async fn fetch(s: &Server, path: &str) -> (u16, Vec<u8>) {
    let res = s.http.get(s.at(path)).send().await.unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn migrate_copies_a_sqlite_install_into_mongodb_and_checks_it() {
    let a = Server::start(json!({"database": {"engine": "sqlite"}, "auth": {"jwt": true, "secret": SECRET},
                                 "server": {"image_zip": true}}));
    let (_, body) = a.post_json("/api/get_token", &json!({"mail": "mia@example.org"})).await;
    let token = body["token"].as_str().unwrap().to_string();
    let mut names = Vec::new();
    for seed in [1, 2] {
        let part = reqwest::multipart::Part::bytes(fixtures::png(300 + seed as u32, 200, seed)).file_name("m.png");
        let form = reqwest::multipart::Form::new().part("file", part);
        let res = a.http.post(a.at(&format!("/api/image_upload?token={token}"))).multipart(form).send().await.unwrap();
        let (status, up) = answer(res).await;
        assert_eq!(status, 200, "{up}");
        names.push(up["files"][0]["name"].as_str().unwrap().to_string());
    }
    let mut originals = Vec::new();
    for n in &names {
        originals.push(fetch(&a, &format!("/images/{n}")).await.1);
    }
    let source = a.stop();

    let target = tempfile::tempdir().unwrap();
    let target_config = write_config(
        target.path(),
        &json!({"database": {"engine": "mongo", "mongo": common::fresh_mongo_uri(), "blob": "mongo"},
                "auth": {"jwt": true, "secret": SECRET}, "server": {"image_zip": true}}),
    );
    let from = source.path().join("config.json");
    let report = tool(&["migrate", "--config", from.to_str().unwrap(), "--to", &target_config]);
    assert_eq!((report["users"].as_u64(), report["images"].as_u64()), (Some(1), Some(2)), "{report}");
    assert_eq!(report["skipped"], json!([]));
    // Again: nothing new, nothing lost.
    let again = tool(&["migrate", "--config", from.to_str().unwrap(), "--to", &target_config]);
    assert_eq!((again["images"].as_u64(), again["already_there"].as_u64()), (Some(0), Some(3)), "{again}");

    // The migrated install serves the same account, records, files and thumbnails.
    let b = Server::start_in(target);
    let res = b.http.get(b.at(&format!("/api/image_list?token={token}"))).send().await.unwrap();
    let (status, list) = answer(res).await;
    assert_eq!((status, list["total"].as_u64()), (200, Some(2)), "{list}");
    for (n, bytes) in names.iter().zip(&originals) {
        assert_eq!(fetch(&b, &format!("/images/{n}")).await, (200, bytes.clone()));
        assert_eq!(fetch(&b, &format!("/thumbs/{n}.png")).await.0, 200);
    }
    assert!(b.stored_files().is_empty(), "files went into MongoDB, not the folder");
}

/// An install of the original: its SQLite schema, rows and image folder.
fn original_install(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let db = dir.join("test.db");
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE image (name VARCHAR PRIMARY KEY, mail VARCHAR, path VARCHAR, url VARCHAR, time VARCHAR);
         CREATE TABLE token (mail VARCHAR PRIMARY KEY, token VARCHAR, \"check\" VARCHAR);",
    )
    .unwrap();
    conn.execute("INSERT INTO token VALUES ('Old@Example.org', 'legacy-token-0123456789abcdef', NULL)", []).unwrap();
    let rows = [
        ("aGVsbG8ucG5nMTc5NTQ2MzM2Ni40MzYzNDY4.png", Some(fixtures::png(20, 10, 5))),
        // With a camera's GPS position and text: imported files are stripped like uploads.
        ("c2hlbGw+cGhwMTc5.jpg", Some(fixtures::jpeg_with_metadata(16, 16, 6, 1))),
        ("shell.png", Some(b"<?php system($_GET['c']); ?>".to_vec())),
        ("gone.png", None),
    ];
    for (name, bytes) in rows {
        conn.execute(
            "INSERT INTO image VALUES (?1, 'old@example.org', ?2, ?3, '1590000000.25')",
            rusqlite::params![name, format!("/srv/img/{name}"), format!("http://old/images/{name}")],
        )
        .unwrap();
        if let Some(b) = bytes {
            std::fs::write(images.join(name), b).unwrap();
        }
    }
    (db, images)
}

#[tokio::test]
async fn import_original_keeps_tokens_working_and_refuses_junk() {
    let old = tempfile::tempdir().unwrap();
    let (db, images) = original_install(old.path());
    let new = tempfile::tempdir().unwrap();
    let mut config = common::engine_config();
    config["auth"] = json!({"jwt": true});
    config["server"] = json!({"image_zip": true});
    let config_path = write_config(new.path(), &config);
    let report = tool(&[
        "import-original",
        "--config",
        &config_path,
        "--sqlite",
        db.to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
    ]);
    assert_eq!((report["users"].as_u64(), report["images"].as_u64()), (Some(1), Some(2)), "{report}");
    let skipped: Vec<&str> = report["skipped"].as_array().unwrap().iter().map(|s| s[0].as_str().unwrap()).collect();
    assert_eq!(skipped, ["shell.png", "gone.png"], "{report}");

    let s = Server::start_in(new);
    // The original's token, from the query as its clients send it.
    let legacy = "legacy-token-0123456789abcdef";
    let res = s.http.get(s.at(&format!("/api/image_list?token={legacy}"))).send().await.unwrap();
    let (status, list) = answer(res).await;
    assert_eq!((status, list["total"].as_u64()), (200, Some(2)), "{list}");
    let mut names: Vec<&str> = list["data"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort();
    // The '+' of the original's base64 names becomes '-' (the old name broke on disk and in URLs).
    assert_eq!(names, ["aGVsbG8ucG5nMTc5NTQ2MzM2Ni40MzYzNDY4.png", "c2hlbGw-cGhwMTc5.jpg"]);
    assert_eq!(list["data"][0]["time"].as_f64(), Some(1590000000.25));
    let (status, bytes) = fetch(&s, "/images/aGVsbG8ucG5nMTc5NTQ2MzM2Ni40MzYzNDY4.png").await;
    assert_eq!((status, bytes), (200, fixtures::png(20, 10, 5)));
    // Judged like uploads: metadata stripped, thumbnails made.
    let (status, jpeg) = fetch(&s, "/images/c2hlbGw-cGhwMTc5.jpg").await;
    assert_eq!(status, 200);
    assert!(fixtures::find(&jpeg, fixtures::GPS_TAG).is_none() && fixtures::find(&jpeg, fixtures::SECRET).is_none());
    for item in list["data"].as_array().unwrap() {
        let thumb = item["thumb_url"].as_str().unwrap_or_else(|| panic!("no thumbnail: {item}"));
        let path = thumb.split_once("/thumbs/").map(|(_, p)| format!("/thumbs/{p}")).unwrap();
        assert_eq!(fetch(&s, &path).await.0, 200, "{thumb}");
    }
    // Only that token: a near miss is refused.
    let res = s.http.get(s.at("/api/image_list?token=legacy-token-0123456789abcdeX")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // The token removes its account as the original's clients do it; then it is dead.
    let res = s.http.get(s.at(&format!("/api/remove_token?mail=old@example.org&token={legacy}"))).send().await.unwrap();
    assert_eq!(answer(res).await.0, 200);
    let res = s.http.get(s.at(&format!("/api/image_list?token={legacy}"))).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn import_original_reads_its_mongodb_collections_too() {
    use mongodb::bson::doc;
    let old = tempfile::tempdir().unwrap();
    let images = old.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("bW9uZ28ucG5n.png"), fixtures::png(12, 12, 9)).unwrap();
    let uri = common::fresh_mongo_uri();
    let db = mongodb::Client::with_uri_str(&uri).await.unwrap().database(uri.rsplit('/').next().unwrap());
    let token = "another-legacy-token-abcdef987654";
    db.collection("token").insert_one(doc! {"mail": "mo@example.org", "token": token, "check": ""}).await.unwrap();
    db.collection("images")
        .insert_one(doc! {"name": "bW9uZ28ucG5n.png", "mail": "mo@example.org", "path": "/x", "url": "http://x", "time": "1590000001.5"})
        .await
        .unwrap();
    let new = tempfile::tempdir().unwrap();
    let mut config = common::engine_config();
    config["auth"] = json!({"jwt": true});
    let config_path = write_config(new.path(), &config);
    let report =
        tool(&["import-original", "--config", &config_path, "--mongo", &uri, "--images", images.to_str().unwrap()]);
    assert_eq!((report["users"].as_u64(), report["images"].as_u64()), (Some(1), Some(1)), "{report}");
    let s = Server::start_in(new);
    let res = s.http.get(s.at(&format!("/api/image_list?token={token}"))).send().await.unwrap();
    let (status, list) = answer(res).await;
    assert_eq!((status, list["data"][0]["name"].as_str()), (200, Some("bW9uZ28ucG5n.png")), "{list}");
}
