//! The policy contract: 2.0 as the built-in policy speaks it (`admit` with the owner's
//! usage including the earlier files of the same request, `judge` that strips and is
//! asked again), 1.0 components still running through the host's adapter, and the
//! `imgbed policy` tools that speak both.

mod common;

use common::{assert_error, fixtures, Server};
use fixtures::{find, SECRET};
use serde_json::{json, Value};

const V1_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_policy_v1_test.wasm");
const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");

async fn put_policy(s: &Server, path: &str) -> (u16, Value) {
    let bytes = std::fs::read(path).unwrap();
    let res = s.http.put(s.at("/api/admin/policy")).bearer_auth(s.admin_token()).body(bytes).send().await.unwrap();
    common::answer(res).await
}

async fn active(s: &Server) -> Value {
    let res = s.http.get(s.at("/api/admin/policy")).bearer_auth(s.admin_token()).send().await.unwrap();
    let (status, body) = common::answer(res).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["active"].clone()
}

#[tokio::test]
async fn a_contract_1_0_component_still_loads_and_behaves_the_same() {
    let s = Server::start(json!({"server": {"image_zip": true, "thumb_width": 64},
                                 "policy": {"settings": {"v1.max_images": 2}}}));
    assert_eq!(active(&s).await["contract"], "imgbed:policy@2.1.0", "the built-in policy speaks 2.1 (with variants)");
    let (status, body) = put_policy(&s, V1_POLICY).await;
    assert_eq!(status, 200, "{body}");
    let now = active(&s).await;
    assert_eq!(now["name"], "imgbed-v1-test");
    assert_eq!(now["contract"], "imgbed:policy@1.0.0", "the admin API says which contract it speaks");

    // Metadata is stripped (1.0 `strip-metadata`), the stored bytes are inspected (1.0
    // `inspect`), named by the configured rule (1.0 `name`) and thumbnailed (1.0 `thumbnail`).
    let jpeg = fixtures::jpeg_with_metadata(96, 64, 3, 1);
    assert!(find(&jpeg, SECRET).is_some());
    let (status, body) = s.upload(&[("photo.jpg", jpeg, "image/jpeg")]).await;
    assert_eq!(status, 200, "{body}");
    let file = &body["files"][0];
    let name = file["name"].as_str().unwrap();
    assert!(name.ends_with(".jpg"), "{name}");
    let stored = std::fs::read(s.images_dir().join(name)).unwrap();
    assert!(find(&stored, SECRET).is_none(), "the 1.0 policy's strip was applied");
    assert_eq!((file["width"].as_u64(), file["height"].as_u64()), (Some(96), Some(64)));
    assert!(file["thumb_url"].is_string(), "the 1.0 thumbnail was made: {file}");

    // Refusals come through with their status and code.
    let (status, body) = s.upload(&[("bad.png", fixtures::png_corrupt_data(1), "image/png")]).await;
    assert_error(&(status, body), 422, "corrupt_image");

    // Its quota reads the 1.0 `owner-usage` import: two stored, the third is refused.
    s.upload_png(7).await;
    let (status, body) = s.upload(&[("third.png", fixtures::png(8, 8, 8), "image/png")]).await;
    assert_error(&(status, body), 403, "quota_exceeded");

    // Access rules through the 1.0 `authorize` (string actions, string kinds).
    assert_eq!(s.get("/api/image_list").await.0, 200);
    let res = s.http.get(s.at("/api/admin/users")).send().await.unwrap();
    assert_eq!(common::answer(res).await.0, 403, "the legacy user is not an admin");
}

#[tokio::test]
async fn admit_sees_the_owners_usage_with_the_earlier_files_of_the_request() {
    let s = Server::start(json!({}));
    assert_eq!(put_policy(&s, TEST_POLICY).await.0, 200);
    let first = fixtures::png(8, 8, 1);
    let first_size = first.len();
    s.upload(&[("one.png", first, "image/png")]).await;
    let second = fixtures::png(9, 9, 2);
    let second_size = second.len();
    let (status, body) =
        s.upload(&[("two.png", second, "image/png"), ("admit-three.png", fixtures::png(10, 10, 3), "image/png")]).await;
    assert_error(&(status, body.clone()), 403, "not_admitted");
    let message = body["data"].as_str().unwrap_or_default().to_string() + &body.to_string();
    let want = format!("usage images=2 bytes={}", first_size + second_size);
    assert!(message.contains(&want), "admit was told {message}, expected {want}");
    // All or nothing: the second file of the refused request was not stored.
    let (_, list) = s.get("/api/image_list").await;
    assert_eq!(list["total"], 1, "{list}");
}

#[tokio::test]
async fn a_thumbnail_the_policy_cannot_make_does_not_fail_the_upload() {
    let s = Server::start(json!({"server": {"image_zip": true}}));
    assert_eq!(put_policy(&s, TEST_POLICY).await.0, 200);
    let (status, body) = s.upload(&[("thumb-trap.png", fixtures::png(16, 16, 9), "image/png")]).await;
    assert_eq!(status, 200, "judged again without a thumbnail: {body}");
    assert!(body["files"][0]["thumb_url"].is_null(), "{body}");
    assert_eq!(s.stored_files().len(), 1);
    // A trap that is not about the thumbnail still fails the upload.
    let (status, body) = s.upload(&[("trap.png", fixtures::png(16, 16, 10), "image/png")]).await;
    assert_error(&(status, body), 500, "policy_trap");
}

#[tokio::test]
async fn a_policy_that_strips_a_stripped_file_again_is_an_invalid_answer_not_a_loop() {
    let s = Server::start(json!({"server": {"strip_metadata": true}}));
    assert_eq!(put_policy(&s, TEST_POLICY).await.0, 200);
    let (status, body) = s.upload(&[("strip-again.png", fixtures::png(16, 16, 4), "image/png")]).await;
    assert_error(&(status, body), 500, "policy_invalid");
    assert!(s.stored_files().is_empty(), "{:?}", s.stored_files());
    // With stripping off, the host asks without `strip`: the same answer is refused too.
    let s = Server::start(json!({"server": {"strip_metadata": false}}));
    assert_eq!(put_policy(&s, TEST_POLICY).await.0, 200);
    let (status, body) = s.upload(&[("strip-again.png", fixtures::png(16, 16, 5), "image/png")]).await;
    assert_error(&(status, body), 500, "policy_invalid");
    let name = s.upload_png(6).await;
    assert!(name.starts_with("t-"), "ordinary files still go through: {name}");
}

#[test]
fn policy_tools_check_and_run_without_a_server() {
    let bin = common::binary();
    let out = std::process::Command::new(bin).args(["policy", "check", TEST_POLICY]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((info["name"].as_str(), info["contract"].as_str()), (Some("imgbed-test"), Some("imgbed:policy@2.0.0")));
    let v1 = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_policy_v1_test.wasm");
    let out = std::process::Command::new(bin).args(["policy", "check", v1]).output().unwrap();
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["contract"], "imgbed:policy@1.0.0", "{info}");

    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), b"nope").unwrap();
    let out = std::process::Command::new(bin).args(["policy", "check"]).arg(bad.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid component"));

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("Good.PNG");
    std::fs::write(&good, fixtures::png(5, 4, 1)).unwrap();
    let evil = dir.path().join("evil.png");
    std::fs::write(&evil, b"<?php ?>").unwrap();
    let out =
        std::process::Command::new(bin).args(["policy", "run", "builtin", "inspect"]).arg(&good).output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["ok"]["width"].as_u64(), v["ok"]["format"].as_str()), (Some(5), Some("png")));
    let out =
        std::process::Command::new(bin).args(["policy", "run", "builtin", "inspect"]).arg(&evil).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rejected"]["code"], "unsupported_type");
    let out = std::process::Command::new(bin)
        .args(["policy", "run", "builtin", "name", "--rule", "md5"])
        .arg(&good)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"].as_str().unwrap().len(), 36);
    let out = std::process::Command::new(bin)
        .args(["policy", "run", "builtin", "authorize", "image.delete", "--id", "a@x.org", "--fact", "owner=b@x.org"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["decision"].as_str(), v["status"].as_u64()), (Some("deny"), Some(404)));

    // `admit` with a usage: the members example's quota.
    let members = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_policy_members.wasm");
    let admit = |images: &str| {
        std::process::Command::new(bin)
            .args(["policy", "run", members, "--setting", "members.max_images=3", "admit", "--images", images])
            .arg(&good)
            .output()
            .unwrap()
    };
    let (under, over) = (admit("2"), admit("3"));
    assert!(under.status.success(), "{}", String::from_utf8_lossy(&under.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&under.stdout).unwrap()["decision"], "allow");
    assert_eq!(over.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&over.stdout).unwrap();
    assert_eq!((v["decision"].as_str(), v["code"].as_str()), (Some("deny"), Some("quota_exceeded")), "{v}");
}

#[test]
fn the_default_policy_refuses_an_action_the_contract_does_not_name() {
    let bin = common::binary();
    // `policy run builtin authorize`: a name the contract does not know is asked as `other`.
    let authorize = |action: &str, kind: &str| {
        let out = std::process::Command::new(bin)
            .args(["policy", "run", "builtin", "authorize", action, "--kind", kind, "--id", "a@x.org"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{action} as {kind}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), v)
    };
    // The same principals are allowed the known actions under these prefixes...
    for (action, kind) in [("image.delete", "user"), ("admin.init-db", "admin")] {
        let (code, v) = authorize(action, kind);
        assert_eq!((code, v["decision"].as_str()), (Some(0), Some("allow")), "{action} as {kind}: {v}");
    }
    // ...but an action the contract does not name is refused, even to an admin.
    for (action, kind) in [("image.rename", "user"), ("image.rename", "admin"), ("admin.purge", "admin")] {
        let (code, v) = authorize(action, kind);
        assert_eq!(code, Some(3), "{action} as {kind}: {v}");
        let got = (v["decision"].as_str(), v["status"].as_u64(), v["code"].as_str());
        assert_eq!(got, (Some("deny"), Some(403), Some("forbidden")), "{action} as {kind}: {v}");
    }
}
