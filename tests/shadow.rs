//! Shadow mode in a running server: a stricter candidate runs beside the active policy,
//! counts what it would refuse while everything succeeds, and refuses it once promoted;
//! drop, the admin-only routes, the metrics, sampling.

mod common;

use std::time::{Duration, Instant};

use common::{assert_error, fixtures, Server};
use serde_json::{json, Value};

const STRICT_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_policy_strict.wasm");
const SHADOW: &str = "/api/admin/policy/shadow";

fn strict() -> Vec<u8> {
    std::fs::read(STRICT_POLICY).unwrap()
}

async fn load_shadow(s: &Server, bytes: Vec<u8>) -> (u16, Value) {
    let res = s.http.put(s.at(SHADOW)).bearer_auth(s.admin_token()).body(bytes).send().await.unwrap();
    common::answer(res).await
}

async fn shadow_state(s: &Server) -> Value {
    let res = s.http.get(s.at(SHADOW)).bearer_auth(s.admin_token()).send().await.unwrap();
    let (status, body) = common::answer(res).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// Polls the shadow's state until `done` holds (the shadow runs in the background).
async fn settle(s: &Server, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = shadow_state(s).await;
        if done(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "the shadow's counts did not settle: {state}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn upload_jpeg(s: &Server, seed: u64) -> (u16, Value) {
    s.upload(&[("photo.jpg", fixtures::jpeg(16, 16, seed), "image/jpeg")]).await
}

#[tokio::test]
async fn a_stricter_shadow_counts_what_it_would_refuse_and_refuses_it_once_promoted() {
    // Every decision sampled, and room for the shadow beside every real call: nothing is
    // skipped (a shadow call finds no capacity free only under load).
    let s = Server::start(json!({"policy": {"shadow_sample": 1.0, "shadow_share": 1.0, "heavy_workers": 4}}));
    // Only the admin may see or touch the shadow; nothing of the body is read for others.
    let res = s.http.put(s.at(SHADOW)).body(strict()).send().await.unwrap();
    let (status, body) = common::answer(res).await;
    assert!(status == 401 || status == 403, "{status} {body}");
    let res = s.http.get(s.at(SHADOW)).send().await.unwrap();
    assert!([401, 403].contains(&res.status().as_u16()));
    let res = s.http.post(s.at(&format!("{SHADOW}/promote"))).send().await.unwrap();
    assert!([401, 403].contains(&res.status().as_u16()));
    let res = s.http.delete(s.at(SHADOW)).send().await.unwrap();
    assert!([401, 403].contains(&res.status().as_u16()));

    let before = shadow_state(&s).await;
    assert!(before["shadow"].is_null(), "{before}");
    assert_eq!(before["sample"], 1.0);
    assert_error(&load_shadow(&s, Vec::new()).await, 400, "bad_request");
    assert_error(&load_shadow(&s, b"not wasm".to_vec()).await, 422, "policy_refused");

    let (status, body) = load_shadow(&s, strict()).await;
    assert_eq!(status, 200, "{body}");
    let loaded = shadow_state(&s).await;
    assert_eq!(loaded["shadow"]["policy"]["name"], "imgbed-strict", "{loaded}");
    assert_eq!(loaded["shadow"]["policy"]["source"], "shadow");
    let (_, policy) =
        common::answer(s.http.get(s.at("/api/admin/policy")).bearer_auth(s.admin_token()).send().await.unwrap()).await;
    assert_eq!(policy["data"]["active"]["name"], "imgbed-default", "the active policy stays");
    assert_eq!(policy["data"]["shadow"]["policy"]["name"], "imgbed-strict");

    // The strict policy takes only PNG and WebP: every JPEG is stored all the same, and
    // the shadow counts each one it would have refused.
    const N: u64 = 4;
    // Each upload: one `authorize` and one judgement, agreeing or not; one at a time, so
    // the record's order is the uploads'.
    let calls = |n: u64| move |v: &Value| v["shadow"]["counts"]["calls"].as_u64() == Some(2 * n);
    let mut names = Vec::new();
    for seed in 0..N {
        let (status, body) = upload_jpeg(&s, seed).await;
        assert_eq!(status, 200, "the shadow's answer is never used: {body}");
        names.push(body["files"][0]["name"].as_str().unwrap().to_string());
        settle(&s, calls(seed + 1)).await;
    }
    let png = s.upload_png(1).await;
    let state = settle(&s, calls(N + 1)).await;
    let counts = &state["shadow"]["counts"];
    assert_eq!(counts["disagreements"], N, "{state}");
    assert_eq!(counts["agreements"], N + 2, "the PNG and every authorize agree: {state}");
    assert_eq!(counts["skipped"], 0, "{state}");
    let recent = state["shadow"]["recent"].as_array().unwrap();
    assert_eq!(recent.len(), N as usize);
    for (d, name) in recent.iter().zip(&names) {
        assert_eq!(d["action"], "upload.judge", "{d}");
        // The test client uploads with a user's token.
        assert_eq!(d["principal_kind"], "user", "{d}");
        assert_eq!(d["image"], name.as_str(), "{d}");
        assert_eq!(d["active"], json!({"outcome": "allow", "code": null}), "{d}");
        assert_eq!(d["shadow"], json!({"outcome": "refuse", "code": "unsupported_type"}), "{d}");
        assert_eq!(d["principal"].as_str().unwrap().len(), 16, "a hash, not the id: {d}");
    }
    assert!(!state.to_string().contains(&s.admin_token()), "no token in the record");
    let records = state["shadow"]["recent"].to_string();
    assert!(!records.contains('@'), "no mail address in the record: {records}");
    assert_ne!(recent[0]["image"], png.as_str());

    let metrics = s.http.get(s.at("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(&format!("imgbed_policy_shadow_disagreements_total{{action=\"upload.judge\"}} {N}")),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("imgbed_policy_shadow_calls_total {}", 2 * (N + 1))), "{metrics}");
    assert!(metrics.contains("imgbed_policy_shadow_skipped_total 0"), "{metrics}");

    // One call promotes it: now the same uploads are refused.
    let res = s.http.post(s.at(&format!("{SHADOW}/promote"))).bearer_auth(s.admin_token()).send().await.unwrap();
    let (status, body) = common::answer(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["policy"]["active"]["name"], "imgbed-strict", "{body}");
    assert_eq!(body["policy"]["previous"]["name"], "imgbed-default", "{body}");
    assert!(body["policy"]["shadow"].is_null(), "{body}");
    assert!(shadow_state(&s).await["shadow"].is_null());
    assert_error(&upload_jpeg(&s, 100).await, 415, "unsupported_type");
    s.upload_png(2).await;
    let res = s.http.post(s.at(&format!("{SHADOW}/promote"))).bearer_auth(s.admin_token()).send().await.unwrap();
    assert_error(&common::answer(res).await, 409, "no_shadow_policy");
}

#[tokio::test]
async fn a_shadow_is_dropped_and_an_unsampled_one_is_never_asked() {
    let s = Server::start(json!({"policy": {"shadow_sample": 0.0}}));
    let drop = || s.http.delete(s.at(SHADOW)).bearer_auth(s.admin_token()).send();
    assert_error(&common::answer(drop().await.unwrap()).await, 409, "no_shadow_policy");
    assert_eq!(load_shadow(&s, strict()).await.0, 200);
    for seed in 0..3 {
        assert_eq!(upload_jpeg(&s, seed).await.0, 200);
    }
    let state = shadow_state(&s).await;
    assert_eq!(state["shadow"]["counts"]["calls"], 0, "sampling 0 asks nothing: {state}");
    let (status, body) = common::answer(drop().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dropped"]["policy"]["name"], "imgbed-strict");
    assert!(shadow_state(&s).await["shadow"].is_null());
    // Dropped, not promoted: the default policy still decides.
    assert_eq!(upload_jpeg(&s, 50).await.0, 200);
}

#[tokio::test]
async fn with_trusted_keys_a_shadow_needs_a_trusted_signature() {
    use common::signing::{keygen, signature_of};
    let dir = tempfile::tempdir().unwrap();
    let (trusted, other) = (keygen(dir.path(), "trusted"), keygen(dir.path(), "other"));
    let s = Server::start(json!({"policy": {"trusted_keys": [trusted.public]}}));
    let put = |signature: Option<String>| {
        let mut req = s.http.put(s.at(SHADOW)).bearer_auth(s.admin_token()).body(strict());
        if let Some(sig) = signature {
            req = req.header("X-Imgbed-Signature", sig);
        }
        req.send()
    };
    assert_error(&common::answer(put(None).await.unwrap()).await, 403, "policy_unsigned");
    let forged = signature_of(&other, &strict());
    assert_error(&common::answer(put(Some(forged)).await.unwrap()).await, 403, "policy_bad_signature");
    assert!(shadow_state(&s).await["shadow"].is_null());
    let (status, body) = common::answer(put(Some(signature_of(&trusted, &strict()))).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let state = shadow_state(&s).await;
    assert_eq!(state["shadow"]["policy"]["signed_by"], trusted.public.as_str(), "{state}");
}
