//! The record keeps its object's key: a GET goes straight to the object (one request to
//! S3, counted by the proxy), links can point at `database.s3.public_url` + the key, and
//! records without one (older records, a database from before the column) are still
//! served through the name's pointer. `imgbed migrate` writes the target's keys.

use std::time::Duration;

use object_store::path::Path;
use object_store::ObjectStoreExt;
use serde_json::{json, Value};

use super::common::{self, fixtures, Server};
use super::{bucket, install, migrate, object_of, object_under, prefix_of, proxy, upstream, via, warm_up};

/// A server on SQLite (whose records the test reads) with its files in the bucket per `s3`.
fn keyed_server(s3: Value, server: Value) -> Server {
    Server::start(json!({"database": {"engine": "sqlite", "blob": "s3", "s3": s3}, "server": server}))
}

fn database(dir: &std::path::Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(dir.join("imgbed.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db
}

/// The object key the record of `name` keeps (None: a record without one).
fn record_key(dir: &std::path::Path, name: &str) -> Option<String> {
    database(dir).query_row("SELECT blob_key FROM images WHERE name = ?1", [name], |r| r.get(0)).unwrap()
}

async fn served(s: &Server, name: &str) -> Vec<u8> {
    let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 200, "{name}");
    res.bytes().await.unwrap().to_vec()
}

// The proxy runs on the test's runtime, which must keep running while a server starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_reads_the_object_its_record_names_in_one_request() {
    warm_up().await;
    let proxy = proxy::Proxy::start(upstream()).await;
    let s = keyed_server(via(&proxy, 5000), json!({"image_zip": false, "file_cache_mb": 0}));
    let name = s.upload_png(41).await;
    let key = record_key(s.path(), &name).expect("the record keeps the object's key");
    assert_eq!(key, object_of(&s, &name).await, "the object the name's pointer names");
    s.reconciled().await;
    let png = fixtures::png(8, 8, 41);

    let before = proxy.requests();
    assert_eq!(served(&s, &name).await, png);
    assert_eq!(proxy.requests() - before, 1, "one request: the object, not the name's pointer first");
    let before = proxy.requests();
    let res = s.http.get(s.at(&format!("/images/{name}"))).header("range", "bytes=2-9").send().await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap(), png[2..=9]);
    assert_eq!(proxy.requests() - before, 1, "a range: one ranged GET");

    // The name's pointer is not read at all: with it gone, the image is still served.
    bucket().delete(&Path::from(format!("{}images/names/{name}", prefix_of(&s)))).await.unwrap();
    assert_eq!(served(&s, &name).await, png);

    // A record without a key (made before keys) is found through its name's pointer.
    let old = s.upload_png(42).await;
    database(s.path()).execute("UPDATE images SET blob_key = NULL WHERE name = ?1", [&old]).unwrap();
    let before = proxy.requests();
    assert_eq!(served(&s, &old).await, fixtures::png(8, 8, 42));
    assert_eq!(proxy.requests() - before, 2, "the pointer, then the object");
}

#[tokio::test]
async fn a_database_from_before_keys_gets_the_column_and_its_records_are_still_served() {
    let s = keyed_server(common::s3::config(), json!({"image_zip": true}));
    let old = s.upload_png(43).await;
    let prefix = prefix_of(&s);
    let dir = s.stop();
    // The images table as an older version made it: no blob_key column.
    database(dir.path()).execute_batch("ALTER TABLE images DROP COLUMN blob_key").unwrap();
    let s = Server::start_in(dir);
    assert_eq!(record_key(s.path(), &old), None, "an older record has no key");
    assert_eq!(served(&s, &old).await, fixtures::png(8, 8, 43));
    let new = s.upload_png(44).await;
    assert_eq!(record_key(s.path(), &new), Some(object_of(&s, &new).await));
    assert_eq!(served(&s, &new).await, fixtures::png(8, 8, 44));
    // Deleting the older record still takes its name and its object.
    assert_eq!(s.post_json("/api/image_delete", &json!({"name": old})).await.0, 200);
    assert!(common::s3::keys_under(&format!("{prefix}images/objects/{old}/")).is_empty());
    assert!(common::s3::keys_under(&format!("{prefix}images/names/{old}")).is_empty());
}

/// `scheme://host:port` of the S3 test server, and a public base URL that addresses the
/// test bucket's objects there (path style).
fn bucket_address() -> (String, String) {
    let endpoint = std::env::var("IMGBED_TEST_S3").unwrap();
    let public = format!("{endpoint}/{}/", std::env::var("IMGBED_TEST_S3_BUCKET").unwrap());
    (endpoint, public)
}

#[tokio::test]
async fn with_public_links_answers_link_the_object_at_public_url_and_deleting_stays_here() {
    let (endpoint, public) = bucket_address();
    let mut s3 = common::s3::config();
    (s3["public_url"], s3["public_links"], s3["redirect"]) = (json!(public), json!(true), json!(true));
    let s = keyed_server(s3, json!({"image_zip": true}));
    let (status, up) = s.upload(&[("pub.png", fixtures::png(8, 8, 45), "image/png")]).await;
    assert_eq!(status, 200, "{up}");
    let file = &up["files"][0];
    let name = file["name"].as_str().unwrap().to_string();
    let key = record_key(s.path(), &name).unwrap();
    let link = format!("{public}{}images/{key}", prefix_of(&s));
    assert_eq!(file["url"], link.as_str(), "{up}");
    // Thumbnails keep their links here (their keys are not in the record); so does deleting.
    assert!(file["thumb_url"].as_str().unwrap().starts_with(&s.at("/thumbs/")), "{up}");
    assert!(file["delete_url"].as_str().unwrap().starts_with(&s.at("/delete/")), "{up}");
    assert_eq!(s.get(&format!("/api/image_info?name={name}")).await.1["data"]["url"], link.as_str());
    assert_eq!(s.get("/api/image_list").await.1["data"][0]["url"], link.as_str());
    assert_eq!(s.get(&format!("/api/image_format?name={name}")).await.1["data"]["link"], link.as_str());

    // The link is the object itself: the same bytes, straight from the S3 server — to
    // anyone when the bucket allows public reads, else with the bucket's credentials.
    let anonymous = reqwest::get(&link).await.unwrap();
    let bytes = match anonymous.status().as_u16() {
        200 => anonymous.bytes().await.unwrap().to_vec(),
        status => {
            assert!([401, 403].contains(&status), "{status}");
            let at = Path::from(link.strip_prefix(&public).unwrap());
            bucket().get(&at).await.unwrap().bytes().await.unwrap().to_vec()
        }
    };
    assert_eq!(bytes, fixtures::png(8, 8, 45));

    // The redirect goes there too, from the record's key: the pointer is not read.
    bucket().delete(&Path::from(format!("{}images/names/{name}", prefix_of(&s)))).await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"].to_str().unwrap(), link);
    // The web UI may show media from there.
    let page = s.http.get(s.at("/")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    let media = csp.split(';').find(|d| d.trim().starts_with("img-src")).unwrap();
    assert!(media.contains(&endpoint), "{csp}");
}

#[tokio::test]
async fn migrate_writes_the_targets_keys_from_a_folder_to_s3_and_back() {
    let local =
        Server::start(json!({"database": {"engine": "sqlite", "blob": "local"}, "server": {"image_zip": true}}));
    let names = [local.upload_png(46).await, local.upload_png(47).await];
    let local = local.stop();
    let s3 = common::s3::config();
    let prefix = s3["prefix"].as_str().unwrap().to_string();
    let bucketed = install(json!({"engine": "sqlite", "blob": "s3", "s3": s3}));
    let report = migrate(&local.path().join("config.json"), &bucketed.path().join("config.json"));
    assert_eq!(report["images"], 2, "{report}");
    for name in &names {
        let key = record_key(bucketed.path(), name).expect("the copied record keeps the new object's key");
        assert_eq!(key, object_under(&prefix, name).await);
    }
    let back = install(json!({"engine": "sqlite", "blob": "local"}));
    let report = migrate(&bucketed.path().join("config.json"), &back.path().join("config.json"));
    assert_eq!(report["images"], 2, "{report}");
    for name in &names {
        assert_eq!(record_key(back.path(), name), None, "a folder keeps no keys");
    }
    for dir in [bucketed, back] {
        let s = Server::start_in(dir);
        for (seed, name) in [46, 47].into_iter().zip(&names) {
            assert_eq!(served(&s, name).await, fixtures::png(8, 8, seed));
        }
    }
}
