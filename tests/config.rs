//! Start-up configuration: generated defaults, the original's config, and refusals that name the key.

mod common;

use std::process::Command;

use common::{binary, Server};
use serde_json::Value;

fn start_fails_with(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    let out = Command::new(binary())
        .arg("--config")
        .arg(dir.path().join("config.json"))
        .arg("--port")
        .arg("0")
        .output()
        .unwrap();
    assert!(!out.status.success(), "started with {config}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_config_stops_start_up_naming_the_key() {
    let err = start_fails_with("{ not json");
    assert!(err.contains("config"), "{err}");
    let err = start_fails_with(r#"{"server": {"image_sise": 5}}"#);
    assert!(err.contains("server") && err.contains("image_sise"), "{err}");
    let err = start_fails_with(r#"{"server": {"image_size": "big"}}"#);
    assert!(err.contains("server.image_size"), "{err}");
    let err = start_fails_with(r#"{"server": {"image_rule": "sha1"}}"#);
    assert!(err.contains("server.image_rule"), "{err}");
    let err = start_fails_with(r#"{"port": 70000}"#);
    assert!(err.contains("port"), "{err}");
    let err = start_fails_with(r#"{"policy": {"memory_mb": 0}}"#);
    assert!(err.contains("policy.memory_mb"), "{err}");
    let err = start_fails_with(r#"{"video": {"formats": ["mp4", "avi"]}}"#);
    assert!(err.contains("video.formats") && err.contains("avi"), "{err}");
    let err = start_fails_with(r#"{"video": {"max_duration_s": 0}}"#);
    assert!(err.contains("video.max_duration_s"), "{err}");
    // A trusted key that is not an Ed25519 public key (base64 of 32 bytes), or a weak one.
    let err = start_fails_with(r#"{"policy": {"trusted_keys": ["bm90IGEga2V5"]}}"#);
    assert!(err.contains("policy.trusted_keys") && err.contains("entry 0"), "{err}");
    let err = start_fails_with(r#"{"policy": {"trusted_keys": ["AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]}}"#);
    assert!(err.contains("policy.trusted_keys") && err.contains("weak"), "{err}");
    // Files in S3 need a bucket; parts below S3's 5 MiB are refused; the chunk store needs MongoDB.
    let err = start_fails_with(r#"{"database": {"blob": "s3"}}"#);
    assert!(err.contains("database.s3.bucket"), "{err}");
    let err = start_fails_with(r#"{"database": {"blob": "s3", "s3": {"bucket": "b", "part_size_mb": 1}}}"#);
    assert!(err.contains("database.s3.part_size_mb"), "{err}");
    let err = start_fails_with(r#"{"database": {"blob": "s3", "s3": {"bucket": "b", "access_key": "k"}}}"#);
    assert!(err.contains("database.s3.secret_key"), "{err}");
    let err = start_fails_with(r#"{"database": {"blob": "s3", "s3": {"bucket": "b", "public_links": true}}}"#);
    assert!(err.contains("database.s3.public_links") && err.contains("needs public_url"), "{err}");
    let err = start_fails_with(r#"{"database": {"blob": "gridfs"}}"#);
    assert!(err.contains("database.blob") && err.contains("engine"), "{err}");
}

#[test]
fn the_old_name_gridfs_still_opens_the_mongodb_chunk_store_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        serde_json::json!({"database": {"engine": "mongo", "mongo": common::fresh_mongo_uri(), "blob": "gridfs"}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let out = Command::new(binary()).arg("--config").arg(dir.path().join("config.json")).arg("fsck").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("deprecated") && err.contains("\"mongo\""), "{err}");
}

#[tokio::test]
async fn first_start_writes_every_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/config.json");
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(&path)
        .arg("--port")
        .arg("0")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The config is written first, the generated secrets once storage is open.
    let mut written = None;
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                written = Some(v);
                if dir.path().join("sub/secrets.json").exists() {
                    break;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let c = written.expect("config.json written");
    assert_eq!(c["port"], 5000);
    assert_eq!(c["server"]["image_size"], 10_485_760);
    assert_eq!(c["server"]["strip_metadata"], true);
    // Thumbnails on in new installs (the web UI's gallery), off when the key is missing.
    assert_eq!(c["server"]["image_zip"], true);
    assert_eq!((c["video"]["enabled"].as_bool(), c["video"]["size"].as_u64()), (Some(false), Some(104_857_600)));
    assert_eq!(c["server"]["image_rule"], "base64");
    assert_eq!(c["server"]["image_path"], "");
    assert_eq!(c["database"]["engine"], "sqlite");
    assert_eq!(c["policy"]["memory_mb"], 256);
    assert_eq!(c["auth"]["admin_token"], "", "the generated secret lives in secrets.json, not the config");
    assert!(dir.path().join("sub/secrets.json").exists());
}

#[tokio::test]
async fn the_original_config_file_loads_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // The seed README's default config, verbatim.
    let original = r#"{
  "port": 5000,
  "debug": true,
  "server_name": null,
  "multiroutine": false,
  "server": {
    "image_path": "",
    "image_size": 10485760,
    "image_url": "http://localhost:5000/images/",
    "image_rule": "base64",
    "image_zip": false,
    "image_zip_path": ""
  },
  "database": {
    "engine": "sqlite",
    "sqlite": "sqlite:///test.db",
    "mongo": ""
  }
}"#;
    std::fs::write(dir.path().join("config.json"), original).unwrap();
    let s = Server::start_in(dir);
    // Tokens are required, as in the original.
    let (status, _) = s.upload(&[("a.png", common::fixtures::png(3, 3, 1), "image/png")]).await;
    assert_eq!(status, 401);
    let (_, reg) = s.post_json("/api/get_token", &serde_json::json!({"mail": "old@example.org"})).await;
    let token = reg["token"].as_str().unwrap();
    let part = reqwest::multipart::Part::bytes(common::fixtures::png(3, 3, 1)).file_name("a.png");
    let form = reqwest::multipart::Form::new().part("file", part);
    let res = s.http.post(s.at(&format!("/api/image_upload?token={token}"))).multipart(form).send().await.unwrap();
    let (status, body) = common::answer(res).await;
    assert_eq!(status, 200, "{body}");
    let name = body["files"][0]["name"].as_str().unwrap();
    assert_eq!(body["files"][0]["url"], format!("http://localhost:5000/images/{name}"));
    assert!(s.path().join("test.db").exists(), "sqlite:///test.db is next to the config");
    assert!(s.images_dir().join(name).exists());
    assert_eq!(std::fs::read_to_string(s.path().join("config.json")).unwrap(), original, "the file is not rewritten");
}
