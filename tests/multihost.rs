//! Several hosts, one MongoDB database (records and blobs in it): what one host
//! does, the other sees — uploads, listings, byte ranges, deletes, accounts and
//! the active policy.

mod common;

use std::time::{Duration, Instant};

use common::{answer, fixtures, Server};
use serde_json::{json, Value};

const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");

/// Two servers on one database, sharing the token secret and admin token by config.
fn two_hosts(extra: Value) -> (Server, Server) {
    two_hosts_on(&common::fresh_mongo_uri(), extra)
}

fn two_hosts_on(uri: &str, extra: Value) -> (Server, Server) {
    let mut config = json!({
        "database": {"engine": "mongo", "mongo": uri, "blob": "gridfs"},
        "auth": {"jwt": true, "secret": "a-shared-secret-for-both-hosts", "admin_token": "shared-admin-token-0123456789"},
        "server": {"image_zip": true},
    });
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        for (k, v) in e {
            c.insert(k, v);
        }
    }
    (Server::start(config.clone()), Server::start(config))
}

async fn get(s: &Server, token: &str, path: &str) -> (u16, Value) {
    answer(s.http.get(s.at(path)).bearer_auth(token).send().await.unwrap()).await
}

async fn bytes(s: &Server, path: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = s.http.get(s.at(path));
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn two_hosts_share_records_blobs_and_tokens() {
    let (a, b) = two_hosts(json!({}));
    // A token issued by one host works on the other (same secret, same account record).
    let (status, body) = a.post_json("/api/get_token", &json!({"mail": "ann@example.org"})).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let again = b.post_json("/api/get_token", &json!({"mail": "ann@example.org"})).await;
    assert_eq!(again.0, 409, "the account exists on every host");

    // A 3 MB file spans several 1 MiB chunks.
    let big = fixtures::png_of_size(3_000_000, 7);
    let part = reqwest::multipart::Part::bytes(big.clone()).file_name("big.png");
    let form = reqwest::multipart::Form::new().part("file", part);
    let res = a.http.post(a.at("/api/image_upload")).bearer_auth(&token).multipart(form).send().await.unwrap();
    let (status, up) = answer(res).await;
    assert_eq!(status, 200, "{up}");
    let name = up["files"][0]["name"].as_str().unwrap().to_string();
    // Nothing of it is in the local folders: blobs live in the database.
    assert!(a.stored_files().is_empty() && b.stored_files().is_empty());

    // Listed, described and served by the other host, whole and in ranges across chunk edges.
    let (status, list) = get(&b, &token, "/api/image_list").await;
    assert_eq!((status, list["total"].as_u64()), (200, Some(1)), "{list}");
    assert_eq!(list["data"][0]["name"], name.as_str());
    assert!(list["data"][0]["thumb_url"].is_string(), "{list}");
    let (status, info) = get(&b, &token, &format!("/api/image_info?name={name}")).await;
    assert_eq!((status, info["data"]["size"].as_u64()), (200, Some(big.len() as u64)));
    let path = format!("/images/{name}");
    assert_eq!(bytes(&b, &path, None).await, (200, big.clone()));
    let mib = 1024 * 1024;
    for (range, want) in [
        (format!("bytes={}-{}", mib - 10, mib + 9), &big[mib - 10..mib + 10]),
        (format!("bytes={}-{}", 100, 2 * mib + 100), &big[100..2 * mib + 101]),
        ("bytes=-5000".to_string(), &big[big.len() - 5000..]),
        (format!("bytes={}-", 2 * mib), &big[2 * mib..]),
    ] {
        let (status, got) = bytes(&b, &path, Some(&range)).await;
        assert_eq!(status, 206, "{range}");
        assert!(got == want, "{range}: {} bytes, wanted {}", got.len(), want.len());
    }
    assert_eq!(bytes(&b, &path, Some(&format!("bytes={}-", big.len()))).await.0, 416);
    let thumb = format!("/thumbs/{name}.png");
    let (status, t) = bytes(&b, &thumb, None).await;
    assert!(status == 200 && t.starts_with(b"\x89PNG"));

    // Deleted through the other host: gone everywhere, blob and thumbnail too.
    let res = b.http.post(b.at("/api/image_delete")).bearer_auth(&token).json(&json!({"name": name})).send().await;
    assert_eq!(answer(res.unwrap()).await.0, 200);
    let (_, list) = get(&a, &token, "/api/image_list").await;
    assert_eq!(list["total"], 0);
    assert_eq!(bytes(&a, &path, None).await.0, 404);
    assert_eq!(bytes(&a, &thumb, None).await.0, 404);

    // The same bytes can be stored again afterwards, through either host.
    let part = reqwest::multipart::Part::bytes(big.clone()).file_name("big.png");
    let form = reqwest::multipart::Form::new().part("file", part);
    let res = b.http.post(b.at("/api/image_upload")).bearer_auth(&token).multipart(form).send().await.unwrap();
    let (status, up) = answer(res).await;
    assert_eq!((status, up["files"][0]["duplicate"].as_bool()), (200, Some(false)), "{up}");
    let again = up["files"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(bytes(&a, &format!("/images/{again}"), None).await, (200, big));
}

#[tokio::test]
async fn a_policy_swapped_on_one_host_is_followed_by_the_other() {
    let (a, b) = two_hosts(json!({"auth": {"jwt": false, "secret": "a-shared-secret-for-both-hosts",
                                           "admin_token": "shared-admin-token-0123456789"}}));
    let admin = "shared-admin-token-0123456789";
    let show = |s: &Server| {
        let req = s.http.get(s.at("/api/admin/policy")).bearer_auth(admin);
        async move { answer(req.send().await.unwrap()).await.1["data"]["active"]["sha256"].as_str().unwrap().to_string() }
    };
    let builtin = show(&b).await;
    let wasm = std::fs::read(TEST_POLICY).unwrap();
    let res = a.http.put(a.at("/api/admin/policy")).bearer_auth(admin).body(wasm).send().await.unwrap();
    let (status, body) = answer(res).await;
    assert_eq!((status, body["shared"].as_bool()), (200, Some(true)), "{body}");
    let swapped = body["policy"]["active"]["sha256"].as_str().unwrap().to_string();
    assert_ne!(swapped, builtin);

    let deadline = Instant::now() + Duration::from_secs(15);
    while show(&b).await != swapped {
        assert!(Instant::now() < deadline, "host B did not follow the swap within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // B now judges uploads with the test policy (it names files t-<digest>.png).
    let (status, up) = b.upload(&[("x.png", fixtures::png(4, 4, 3), "image/png")]).await;
    assert_eq!(status, 200, "{up}");
    assert!(up["files"][0]["name"].as_str().unwrap().starts_with("t-"), "{up}");

    // A rollback is shared the same way.
    let res = a.http.post(a.at("/api/admin/policy/rollback")).bearer_auth(admin).send().await.unwrap();
    let (status, body) = answer(res).await;
    assert_eq!((status, body["shared"].as_bool()), (200, Some(true)), "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while show(&b).await != builtin {
        assert!(Instant::now() < deadline, "host B did not follow the rollback within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn interrupted_blob_writes_are_swept_after_the_grace_period() {
    use imgbed::blob::{BlobStore, MongoBlobs};
    use mongodb::bson::doc;
    let uri = common::fresh_mongo_uri();
    let db = mongodb::Client::with_uri_str(&uri).await.unwrap().database(uri.rsplit('/').next().unwrap());
    let blobs = MongoBlobs::open(&db, "images", Duration::from_secs(900), Duration::from_secs(5)).await.unwrap();
    // A whole blob, and the chunks of two uploads that died before publishing: one old, one fresh.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), vec![7u8; 2_500_000]).unwrap();
    blobs.put_file(file.path(), "kept.png").await.unwrap();
    let chunks = db.collection::<mongodb::bson::Document>("images_chunks");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let bin =
        |n: u8| mongodb::bson::Binary { subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes: vec![n; 10] };
    for (blob, created) in [("dead-old", now - 3600.0), ("in-flight", now - 5.0)] {
        for n in 0..2i64 {
            chunks.insert_one(doc! {"blob": blob, "n": n, "data": bin(n as u8), "created": created}).await.unwrap();
        }
    }
    // A name is never taken twice, and a taken name is refused, not overwritten.
    let err = blobs.put_file(file.path(), "kept.png").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(blobs.sweep().await.unwrap(), 1);
    let left = |blob: &'static str| {
        let chunks = chunks.clone();
        async move { chunks.count_documents(doc! {"blob": blob}).await.unwrap() }
    };
    assert_eq!((left("dead-old").await, left("in-flight").await), (0, 2));
    assert_eq!(blobs.size("kept.png").await.unwrap(), Some(2_500_000));
    // Removing deletes the name first, then its chunks.
    blobs.remove("kept.png").await.unwrap();
    assert_eq!(blobs.size("kept.png").await.unwrap(), None);
    assert_eq!(chunks.count_documents(doc! {}).await.unwrap(), 2, "only the in-flight upload's chunks are left");
}

#[tokio::test]
async fn two_hosts_deleting_the_same_images_at_once_both_answer_and_nothing_is_left() {
    let uri = common::fresh_mongo_uri();
    let (a, b) = two_hosts_on(&uri, json!({}));
    let (_, body) = a.post_json("/api/get_token", &json!({"mail": "del@example.org"})).await;
    let token = body["token"].as_str().unwrap().to_string();
    let mut names = Vec::new();
    for seed in 0..6 {
        let part = reqwest::multipart::Part::bytes(fixtures::png(8, 8, 100 + seed)).file_name("p.png");
        let form = reqwest::multipart::Form::new().part("file", part);
        let res = a.http.post(a.at("/api/image_upload")).bearer_auth(&token).multipart(form).send().await.unwrap();
        let (status, up) = answer(res).await;
        assert_eq!(status, 200, "{up}");
        names.push(up["files"][0]["name"].as_str().unwrap().to_string());
    }
    for name in &names {
        let del =
            |s: &Server| s.http.post(s.at("/api/image_delete")).bearer_auth(&token).json(&json!({"name": name})).send();
        let (x, y) = tokio::join!(del(&a), del(&b));
        let (x, y) = (answer(x.unwrap()).await, answer(y.unwrap()).await);
        // Each answers sensibly: deleted, or (the other was first) not found. Never a 5xx.
        for (status, body) in [&x, &y] {
            assert!(*status == 200 || (*status == 404 && body["code"] == "not_found"), "{status} {body}");
        }
        assert!(x.0 == 200 || y.0 == 200, "{x:?} {y:?}");
        for s in [&a, &b] {
            assert_eq!(bytes(s, &format!("/images/{name}"), None).await.0, 404);
            assert_eq!(bytes(s, &format!("/thumbs/{name}.png"), None).await.0, 404);
        }
    }
    let (_, list) = get(&b, &token, "/api/image_list").await;
    assert_eq!(list["total"], 0, "{list}");
    // In the database itself: no blob, no thumbnail, no pending delete left behind.
    let db = mongodb::Client::with_uri_str(&uri).await.unwrap().database(uri.rsplit('/').next().unwrap());
    for collection in ["images", "images_files", "thumbs_files", "pending_deletes"] {
        let n = db.collection::<mongodb::bson::Document>(collection).count_documents(mongodb::bson::doc! {}).await;
        assert_eq!(n.unwrap(), 0, "{collection}");
    }
}

#[tokio::test]
async fn a_host_with_trusted_keys_refuses_an_unsigned_or_forged_shared_policy() {
    use common::signing::{keygen, signature_of};
    let keys = tempfile::tempdir().unwrap();
    let (trusted, other) = (keygen(keys.path(), "trusted"), keygen(keys.path(), "other"));
    let uri = common::fresh_mongo_uri();
    let admin = "shared-admin-token-0123456789";
    let config = json!({"database": {"engine": "mongo", "mongo": uri, "blob": "gridfs"},
                        "auth": {"jwt": false, "secret": "a-shared-secret-for-both-hosts", "admin_token": admin}});
    // Host A checks no signatures (it carries what it gets); host B trusts one key.
    let a = Server::start(config.clone());
    let mut checking = config;
    checking["policy"] = json!({"trusted_keys": [trusted.public]});
    let b = Server::start(checking);
    let policy_of = |s: &Server| {
        let req = s.http.get(s.at("/api/admin/policy")).bearer_auth(admin);
        async move { answer(req.send().await.unwrap()).await.1["data"].clone() }
    };
    let wait_on_b = async |what: &str, done: &dyn Fn(&Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = policy_of(&b).await;
            if done(&now) {
                return now;
            }
            assert!(Instant::now() < deadline, "host B: {what} within 15 s: {now}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let put = |bytes: Vec<u8>, sig: Option<String>| {
        let mut req = a.http.put(a.at("/api/admin/policy")).bearer_auth(admin).body(bytes);
        if let Some(sig) = sig {
            req = req.header("X-Imgbed-Signature", sig);
        }
        async move { answer(req.send().await.unwrap()).await }
    };

    // Published unsigned through A: B refuses it, keeps its policy and says why.
    let unsigned = std::fs::read(TEST_POLICY).unwrap();
    let (status, body) = put(unsigned.clone(), None).await;
    assert_eq!((status, body["shared"].as_bool()), (200, Some(true)), "{body}");
    let sha = body["policy"]["active"]["sha256"].as_str().unwrap().to_string();
    let now = wait_on_b("refuse the unsigned policy", &|p| p["shared_refused"]["sha256"] == sha.as_str()).await;
    assert_eq!(now["shared_refused"]["code"], "policy_unsigned", "{now}");
    assert_eq!(now["active"]["name"], "imgbed-default", "{now}");
    let (status, up) = b.upload(&[("x.png", fixtures::png(4, 4, 9), "image/png")]).await;
    assert!(status == 200 && !up["files"][0]["name"].as_str().unwrap().starts_with("t-"), "{up}");

    // Signed by the trusted key: the signature travels with the pointer and B follows.
    let strict = std::fs::read(concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_policy_strict.wasm")).unwrap();
    let (status, body) = put(strict.clone(), Some(signature_of(&trusted, &strict))).await;
    assert_eq!((status, body["shared"].as_bool()), (200, Some(true)), "{body}");
    let strict_sha = body["policy"]["active"]["sha256"].as_str().unwrap().to_string();
    // Following it clears the refusal shown before.
    let followed = |p: &Value| p["active"]["sha256"] == strict_sha.as_str() && p["shared_refused"].is_null();
    let now = wait_on_b("follow the signed policy", &followed).await;
    assert_eq!(now["active"]["signed_by"], trusted.public.as_str(), "{now}");

    // Someone who can write to the database points at a component with a forged signature.
    let db = mongodb::Client::with_uri_str(&uri).await.unwrap().database(uri.rsplit('/').next().unwrap());
    let forged = signature_of(&other, &unsigned);
    let pointer = mongodb::bson::doc! {"$set": {"sha256": &sha, "signature": &forged}};
    let policy = db.collection::<mongodb::bson::Document>("policy");
    policy.update_one(mongodb::bson::doc! {"_id": "active"}, pointer).await.unwrap();
    let now =
        wait_on_b("refuse the forged signature", &|p| p["shared_refused"]["code"] == "policy_bad_signature").await;
    assert_eq!(
        (now["shared_refused"]["sha256"].as_str(), now["active"]["name"].as_str()),
        (Some(&*sha), Some("imgbed-strict"))
    );
}

#[tokio::test]
async fn a_shadow_loaded_promoted_or_dropped_on_one_host_is_followed_by_the_other() {
    let admin = "shared-admin-token-0123456789";
    let (a, b) = two_hosts(json!({"auth": {"jwt": false, "secret": "a-shared-secret-for-both-hosts",
                                           "admin_token": admin}}));
    let shadow_of = |s: &Server| {
        let req = s.http.get(s.at("/api/admin/policy/shadow")).bearer_auth(admin);
        async move {
            answer(req.send().await.unwrap()).await.1["data"]["shadow"]["policy"]["sha256"].as_str().map(String::from)
        }
    };
    let wait_on_b = |what: &'static str, want: Option<String>| {
        let b = &b;
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            while shadow_of(b).await != want {
                assert!(Instant::now() < deadline, "host B did not {what} within 15 s");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let load = |s: &Server| {
        let req =
            s.http.put(s.at("/api/admin/policy/shadow")).bearer_auth(admin).body(std::fs::read(TEST_POLICY).unwrap());
        async move { answer(req.send().await.unwrap()).await }
    };

    let (status, body) = load(&a).await;
    assert_eq!((status, body["shared"].as_bool()), (200, Some(true)), "{body}");
    let sha = body["shadow"]["shadow"]["policy"]["sha256"].as_str().unwrap().to_string();
    wait_on_b("load the shadow", Some(sha.clone())).await;

    // Dropped on A: dropped on B.
    let res = a.http.delete(a.at("/api/admin/policy/shadow")).bearer_auth(admin).send().await.unwrap();
    assert_eq!(answer(res).await.0, 200);
    wait_on_b("drop the shadow", None).await;

    // Loaded again, then promoted on A: B runs it as its active policy, with no shadow.
    assert_eq!(load(&a).await.0, 200);
    wait_on_b("load the shadow again", Some(sha.clone())).await;
    let res = a.http.post(a.at("/api/admin/policy/shadow/promote")).bearer_auth(admin).send().await.unwrap();
    assert_eq!(answer(res).await.0, 200);
    wait_on_b("drop the promoted shadow", None).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = b.http.get(b.at("/api/admin/policy")).bearer_auth(admin).send().await.unwrap();
        if answer(res).await.1["data"]["active"]["sha256"] == sha.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "host B did not follow the promotion within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
