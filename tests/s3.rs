//! Files in an S3-compatible bucket (the SeaweedFS server `scripts/test.sh` starts):
//! what is stored there and how, start-up refusals in the operator's words, and the
//! faults (S3 gone, S3 hung) turned into bounded 503s that heal by themselves. The
//! black-box suites that touch files run against S3 too (`IMGBED_TEST_BLOB=s3`).

mod common;
#[path = "s3/keys.rs"]
mod keys;
#[path = "s3/proxy.rs"]
mod proxy;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::s3::client as bucket;
use common::{fixtures, Server};
use object_store::path::Path;
use object_store::{Attribute, GetOptions, ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{json, Value};

/// A server with its files in the test bucket (under a fresh prefix), plus `extra`.
fn s3_server(s3: Value, extra: Value) -> Server {
    let mut config = json!({"database": {"blob": "s3", "s3": s3}, "server": {"image_zip": true}});
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        for (k, v) in e {
            c.insert(k, v);
        }
    }
    Server::start(config)
}

fn prefix_of(s: &Server) -> String {
    s.config()["database"]["s3"]["prefix"].as_str().unwrap().to_string()
}

/// The object key (below the prefix) a stored name points at.
async fn object_of(s: &Server, name: &str) -> String {
    object_under(&prefix_of(s), name).await
}

/// The object key a stored name points at in the images of the install at `prefix`.
async fn object_under(prefix: &str, name: &str) -> String {
    let at = Path::from(format!("{prefix}images/names/{name}"));
    let pointer: Value = serde_json::from_slice(&bucket().get(&at).await.unwrap().bytes().await.unwrap()).unwrap();
    pointer["object"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn objects_carry_their_type_and_a_safe_disposition_under_keys_never_reused() {
    let s = s3_server(common::s3::config(), json!({"server": {"image_zip": true, "image_rule": "content"}}));
    let name = s.upload_png(5).await;
    let prefix = prefix_of(&s);
    let object = object_of(&s, &name).await;
    assert!(object.starts_with(&format!("objects/{name}/")), "{object}");
    let got = bucket().get_opts(&Path::from(format!("{prefix}images/{object}")), GetOptions::new()).await.unwrap();
    assert_eq!(got.attributes.get(&Attribute::ContentType).map(|v| v.as_ref()), Some("image/png"));
    let disposition = got.attributes.get(&Attribute::ContentDisposition).map(|v| v.as_ref().to_string());
    assert_eq!(disposition, Some(format!("inline; filename=\"{name}\"")));
    assert_eq!(got.bytes().await.unwrap().len(), fixtures::png(8, 8, 5).len());
    assert!(!common::s3::keys_under(&format!("{prefix}thumbs/names/")).is_empty(), "a thumbnail in the bucket");

    // Deleted: its name, its object and its thumbnail go. The same bytes again get a new key.
    let del = s.http.post(s.at("/api/image_delete")).json(&json!({"name": name})).send().await.unwrap();
    assert_eq!(del.status(), 200);
    let left: Vec<String> = common::s3::keys_under(&prefix)
        .into_iter()
        .filter(|k| !k.ends_with(".probe") && !k.ends_with(".imgbed-store"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let again = s.upload_png(5).await;
    assert_eq!(again, name, "the same name again (the naming rule is by content)");
    assert_ne!(object_of(&s, &again).await, object, "never the same object key");
}

#[tokio::test]
async fn a_file_larger_than_a_part_is_stored_in_parts_and_ranges_cross_them() {
    let mut s3 = common::s3::config();
    s3["part_size_mb"] = json!(5);
    let s = s3_server(s3, json!({"server": {"image_size": 20_000_000}}));
    let big = fixtures::png_of_size(12_000_000, 9);
    let (status, up) = s.upload(&[("big.png", big.clone(), "image/png")]).await;
    assert_eq!(status, 200, "{up}");
    let name = up["files"][0]["name"].as_str().unwrap();
    let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let whole = res.bytes().await.unwrap();
    assert_eq!(whole.len(), up["files"][0]["size"].as_u64().unwrap() as usize);
    let (from, to) = ((5 << 20) - 10, (5 << 20) + 10);
    let res = s.http.get(s.at(&format!("/images/{name}"))).header("range", format!("bytes={from}-{to}")).send();
    let res = res.await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap(), whole.slice(from..=to));
}

/// Runs the binary on `s3` and expects it to refuse to start within 10 s; its stderr.
fn refused_start(s3: Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    refused_start_in(dir.path(), s3)
}

/// [`refused_start`] on the install in `dir` (its database), with `s3`.
fn refused_start_in(dir: &std::path::Path, s3: Value) -> String {
    let config = json!({"port": 0, "database": {"blob": "s3", "s3": s3}});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let started = Instant::now();
    let out = Command::new(common::binary())
        .arg("--config")
        .arg(dir.join("config.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success(), "started anyway");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn wrong_credentials_or_a_missing_bucket_stop_start_up_with_a_clear_error() {
    let err = refused_start(common::s3::config_with_secret("not-the-secret-0123456789"));
    assert!(err.contains("the credentials were refused"), "{err}");
    assert!(!err.contains("not-the-secret-0123456789"), "the secret is never shown: {err}");
    let mut s3 = common::s3::config();
    s3["bucket"] = json!("no-such-bucket");
    let err = refused_start(s3.clone());
    assert!(err.contains("the bucket does not exist"), "{err}");
    assert!(!err.contains(s3["secret_key"].as_str().unwrap()), "{err}");
}

#[tokio::test]
async fn a_database_and_a_bucket_prefix_that_do_not_belong_together_are_refused() {
    let s3 = common::s3::config();
    let s = s3_server(s3.clone(), json!({}));
    s.upload_png(31).await;
    let first = s.stop();
    // A second install (a fresh database) pointed at the first one's prefix.
    let other = tempfile::tempdir().unwrap();
    let err = refused_start_in(other.path(), s3.clone());
    assert!(err.contains("holds stored files but the database has no records"), "{err}");
    // The first install's database pointed at another (empty) prefix.
    let mut elsewhere = s3.clone();
    elsewhere["prefix"] = json!(format!("{}-other/", s3["prefix"].as_str().unwrap().trim_end_matches('/')));
    let err = refused_start_in(first.path(), elsewhere);
    assert!(err.contains("has no store marker, but the database holds records"), "{err}");
    // Back on its own prefix, it starts.
    let config = json!({"port": 0, "log": {"level": "warn"}, "auth": {"jwt": false}, "ip_filter": {"enabled": false},
                        "server": {"image_zip": true}, "database": {"blob": "s3", "s3": s3}});
    std::fs::write(first.path().join("config.json"), config.to_string()).unwrap();
    let again = Server::start_in(first);
    assert_eq!(again.stored_files().len(), 1);
}

/// A first write to a fresh SeaweedFS can take seconds (it sets up its volumes): done
/// here, with no short timeout, before a test that times the store.
async fn warm_up() {
    let at = Path::from(format!("warm-up/{:016x}", rand_u64()));
    bucket().put(&at, PutPayload::from_static(b"warm")).await.unwrap();
}

fn rand_u64() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// `s3` with its endpoint replaced by `proxy`'s address.
fn via(proxy: &proxy::Proxy, timeout_ms: u64) -> Value {
    let mut s3 = common::s3::config();
    s3["endpoint"] = json!(format!("http://{}", proxy.addr));
    s3["timeout_ms"] = json!(timeout_ms);
    s3["connect_timeout_ms"] = json!(timeout_ms);
    s3["retries"] = json!(1);
    s3
}

fn upstream() -> String {
    std::env::var("IMGBED_TEST_S3").unwrap().trim_start_matches("http://").to_string()
}

/// Asserts that S3-backed requests answer 503 JSON within `bound`, and `/readyz` too.
async fn answers_503(s: &Server, name: &str, bound: Duration) {
    for path in [format!("/images/{name}"), "/readyz".to_string()] {
        let started = Instant::now();
        let res = s.http.get(s.at(&path)).send().await.unwrap();
        assert!(started.elapsed() < bound, "{path} took {:?}", started.elapsed());
        let (status, body) = common::answer(res).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["type"], "error", "{body}");
    }
    let started = Instant::now();
    let (status, body) = s.upload(&[("u.png", fixtures::png(8, 8, 77), "image/png")]).await;
    assert!(started.elapsed() < bound * 3, "upload took {:?}", started.elapsed());
    assert_eq!(status, 503, "{body}");
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
}

async fn recovers(s: &Server, name: &str, bytes: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
        if res.status() == 200 {
            assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", res.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.http.get(s.at("/readyz")).send().await.unwrap().status(), 200);
    assert_eq!(s.upload(&[("b.png", fixtures::png(8, 8, 78), "image/png")]).await.0, 200);
}

// The proxy runs on the test's runtime, which must keep running while a server starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_out_of_reach_gives_503_and_readyz_says_so_then_service_comes_back() {
    warm_up().await;
    let proxy = proxy::Proxy::start(upstream()).await;
    let s = s3_server(via(&proxy, 1000), json!({"server": {"image_zip": false, "file_cache_mb": 0}}));
    let name = s.upload_png(1).await;
    proxy.refuse();
    answers_503(&s, &name, Duration::from_secs(5)).await;
    let (_, ready) = s.get("/readyz").await;
    assert!(ready["data"]["storage"].as_str().is_some_and(|t| t.contains("S3")), "{ready}");
    proxy.pass();
    recovers(&s, &name, &fixtures::png(8, 8, 1)).await;
}

// The proxy runs on the test's runtime, which must keep running while a server starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_s3_gives_503_within_the_request_timeout() {
    warm_up().await;
    let proxy = proxy::Proxy::start(upstream()).await;
    let s = s3_server(via(&proxy, 800), json!({"server": {"image_zip": false, "file_cache_mb": 0}}));
    let name = s.upload_png(2).await;
    proxy.hold();
    answers_503(&s, &name, Duration::from_secs(4)).await;
    proxy.pass();
    recovers(&s, &name, &fixtures::png(8, 8, 2)).await;
}

#[tokio::test]
async fn objects_without_a_name_are_quarantined_after_the_grace_and_only_fsck_deletes_them() {
    let mut s3 = common::s3::config();
    s3["grace_s"] = json!(0);
    let prefix = s3["prefix"].as_str().unwrap().to_string();
    // An upload that died between its object and its name (on some host).
    let orphan = format!("{prefix}images/objects/lost.png/{:032x}", 7u128);
    bucket().put(&Path::from(orphan.clone()), PutPayload::from_static(b"half a story")).await.unwrap();
    let s = s3_server(s3, json!({}));
    s.reconciled().await;
    let quarantined = s.quarantined_files();
    assert_eq!(quarantined, vec![format!("lost.png.unpublished.{:032x}", 7u128)]);
    assert!(!common::s3::keys_under(&format!("{prefix}images/objects/lost.png/")).is_empty(), "kept, not deleted");
    let dir = s.stop();
    let out = Command::new(common::binary())
        .args(["--config", dir.path().join("config.json").to_str().unwrap(), "fsck", "--purge-quarantine"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(common::s3::keys_under(&format!("{prefix}images/objects/lost.png/")).is_empty());
    assert!(common::s3::keys_under(&format!("{prefix}images/quarantine/")).is_empty());
}

#[tokio::test]
async fn with_a_public_url_images_redirect_to_their_object() {
    let mut s3 = common::s3::config();
    s3["public_url"] = json!("https://cdn.example.com/media/");
    s3["redirect"] = json!(true);
    let s = s3_server(s3, json!({}));
    let name = s.upload_png(3).await;
    let object = object_of(&s, &name).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("https://cdn.example.com/media/{}images/{object}", prefix_of(&s)));
    let (status, body) = s.get("/images/no-such.png").await;
    assert_eq!(status, 404, "{body}");
}

fn migrate(from: &std::path::Path, to: &std::path::Path) -> Value {
    let out = Command::new(common::binary())
        .args(["migrate", "--config", from.to_str().unwrap(), "--to", to.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A stopped install's folder with `database` (and thumbnails, no token checks).
fn install(database: Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"port": 0, "log": {"level": "warn"}, "auth": {"jwt": false},
                        "ip_filter": {"enabled": false}, "server": {"image_zip": true}, "database": database});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    std::fs::set_permissions(dir.path().join("config.json"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .unwrap();
    dir
}

#[tokio::test]
async fn migrate_moves_files_from_a_folder_to_s3_and_on_to_mongodb_checking_digests() {
    let local =
        Server::start(json!({"database": {"engine": "sqlite", "blob": "local"}, "server": {"image_zip": true}}));
    let mut names = Vec::new();
    for seed in [21, 22, 23] {
        names.push(local.upload_png(seed).await);
    }
    let local = local.stop();
    // One file changed on disk behind the server's back: it must not be carried over as good.
    std::fs::write(local.path().join("images").join(&names[2]), b"not what was stored").unwrap();

    let s3 = install(json!({"engine": "sqlite", "blob": "s3", "s3": common::s3::config()}));
    let report = migrate(&local.path().join("config.json"), &s3.path().join("config.json"));
    assert_eq!(report["images"], 2, "{report}");
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains(&names[2]) && skipped.contains("SHA-256"), "{report}");
    let again = migrate(&local.path().join("config.json"), &s3.path().join("config.json"));
    assert_eq!(again["images"], 0, "{again}");

    let mongo = install(json!({"engine": "mongo", "mongo": common::fresh_mongo_uri(), "blob": "mongo"}));
    let report = migrate(&s3.path().join("config.json"), &mongo.path().join("config.json"));
    assert_eq!((report["images"].as_u64(), &report["skipped"]), (Some(2), &json!([])), "{report}");

    for dir in [s3, mongo] {
        let s = Server::start_in(dir);
        for (seed, name) in [21, 22].into_iter().zip(&names) {
            let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
            assert_eq!(res.status(), 200, "{name}");
            assert_eq!(res.bytes().await.unwrap().to_vec(), fixtures::png(8, 8, seed));
            assert_eq!(s.http.get(s.at(&format!("/thumbs/{name}.png"))).send().await.unwrap().status(), 200);
        }
        assert_eq!(s.get(&format!("/images/{}", names[2])).await.0, 404);
    }
}
