//! Signed policies (`policy.trusted_keys`) against the real server, with keys and
//! signatures made by the real `imgbed policy keygen` and `sign`: every way a policy
//! arrives — admin API, file watch, SIGHUP, `policy.path` and the kept policy at
//! start-up — needs a signature by a trusted key, and a refusal leaves the running
//! policy as it was. (The policy shared through MongoDB: `tests/multihost.rs`.)

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::signing::{keygen, sig_path, sign, signature_of, Key};
use common::{assert_error, Server};
use serde_json::{json, Value};

const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");
const STRICT_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_policy_strict.wasm");

fn test_policy() -> Vec<u8> {
    std::fs::read(TEST_POLICY).unwrap()
}

async fn put(s: &Server, bytes: Vec<u8>, signature: Option<&str>) -> (u16, Value) {
    let mut req = s.http.put(s.at("/api/admin/policy")).bearer_auth(s.admin_token()).body(bytes);
    if let Some(sig) = signature {
        req = req.header("X-Imgbed-Signature", sig);
    }
    common::answer(req.send().await.unwrap()).await
}

async fn show(s: &Server) -> Value {
    let res = s.http.get(s.at("/api/admin/policy")).bearer_auth(s.admin_token()).send().await.unwrap();
    let (status, body) = common::answer(res).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// Two key pairs: the trusted one and another.
fn keys() -> (tempfile::TempDir, Key, Key) {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, other) = (keygen(dir.path(), "trusted"), keygen(dir.path(), "other"));
    (dir, trusted, other)
}

/// Everything the server logged so far (its daily files).
fn logs(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir.join("logs")) else { return String::new() };
    entries.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect()
}

/// Waits (bounded) until `what` holds.
async fn until(what: &str, check: impl AsyncFnMut() -> bool) {
    assert!(common::poll::until(Duration::from_secs(20), check).await, "never happened: {what}");
}

/// Waits until the server has logged `needle` `n` times.
async fn logged(dir: &Path, needle: &str, n: usize) {
    until(&format!("{n}× {needle:?} in the log"), async || logs(dir).matches(needle).count() >= n).await;
}

#[tokio::test]
async fn the_admin_api_takes_only_policies_signed_by_a_trusted_key() {
    let (keys_dir, trusted, other) = keys();
    // The private key file is the operator's alone.
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&trusted.private).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let s = Server::start(json!({"policy": {"trusted_keys": [trusted.public]}}));
    assert_eq!(show(&s).await["signatures_required"], true);
    let good = signature_of(&trusted, &test_policy());
    let strict = std::fs::read(STRICT_POLICY).unwrap();
    let refusals = [
        (None, 403, "policy_unsigned"),
        (Some(String::new()), 403, "policy_unsigned"),
        (Some(signature_of(&other, &test_policy())), 403, "policy_bad_signature"),
        (Some("bm90IGEgc2lnbmF0dXJl".to_string()), 403, "policy_bad_signature"),
        (Some("%%%".to_string()), 403, "policy_bad_signature"),
    ];
    for (sig, status, code) in &refusals {
        let got = put(&s, test_policy(), sig.as_deref()).await;
        assert_error(&got, *status, code);
        assert!(got.1["detail"].is_string(), "{}", got.1);
    }
    // A trusted signature of other bytes: the strict policy with the test policy's signature.
    assert_error(&put(&s, strict.clone(), Some(&good)).await, 403, "policy_bad_signature");
    let now = show(&s).await;
    assert_eq!((now["active"]["name"].as_str(), now["previous"].is_null()), (Some("imgbed-default"), true), "{now}");
    assert!(!s.upload_png(1).await.starts_with("t-"), "the default policy still names uploads");
    assert!(!s.path().join("policy/active.wasm").exists());

    let (status, body) = put(&s, test_policy(), Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    let now = show(&s).await;
    assert_eq!(now["active"]["name"], "imgbed-test");
    assert_eq!(now["active"]["signed_by"], trusted.public.as_str());
    assert!(s.upload_png(2).await.starts_with("t-"));
    // Kept for restarts with its signature.
    let kept = s.path().join("policy/active.wasm");
    assert_eq!(std::fs::read(&kept).unwrap(), test_policy());
    assert_eq!(std::fs::read_to_string(sig_path(&kept)).unwrap().trim(), good);

    // Rolling back needs no signature: the previous policy was checked when it came.
    let res = s.http.post(s.at("/api/admin/policy/rollback")).bearer_auth(s.admin_token()).send().await.unwrap();
    assert_eq!(common::answer(res).await.0, 200);
    assert_eq!(show(&s).await["active"]["name"], "imgbed-default");
    // The built-in policy is part of the binary: going back to it needs no signature.
    let (status, body) = put(&s, imgbed::policy::BUILTIN_POLICY.to_vec(), None).await;
    assert_eq!(status, 200, "{body}");
    // The private key never reaches the log.
    let private = std::fs::read_to_string(&trusted.private).unwrap();
    let seed = private.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(!logs(s.path()).contains(seed));
    drop(keys_dir);
}

/// A candidate as a form: `policy` and `signature` parts (and any `extra` ones).
async fn put_form(s: &Server, bytes: Vec<u8>, signature: Option<&str>, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form =
        reqwest::multipart::Form::new().part("policy", reqwest::multipart::Part::bytes(bytes).file_name("policy.wasm"));
    if let Some(sig) = signature {
        form = form.text("signature", sig.to_string());
    }
    for (name, value) in extra {
        form = form.text(name.to_string(), value.to_string());
    }
    let req = s.http.put(s.at("/api/admin/policy")).bearer_auth(s.admin_token()).multipart(form);
    common::answer(req.send().await.unwrap()).await
}

#[tokio::test]
async fn the_signature_may_come_as_a_form_part() {
    let (_keys_dir, trusted, other) = keys();
    let s = Server::start(json!({"policy": {"trusted_keys": [trusted.public]}}));
    let good = signature_of(&trusted, &test_policy());
    assert_error(&put_form(&s, test_policy(), None, &[]).await, 403, "policy_unsigned");
    let forged = signature_of(&other, &test_policy());
    assert_error(&put_form(&s, test_policy(), Some(&forged), &[]).await, 403, "policy_bad_signature");
    assert_error(&put_form(&s, test_policy(), Some(&good), &[("comment", "hi")]).await, 400, "bad_request");
    let (status, body) = put_form(&s, test_policy(), Some(&"A".repeat(2000)), &[]).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")), "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains("signature part"), "{body}");
    // The signature once: in the header or in the form, not both.
    let both = s
        .http
        .put(s.at("/api/admin/policy"))
        .bearer_auth(s.admin_token())
        .header("X-Imgbed-Signature", good.as_str())
        .multipart(
            reqwest::multipart::Form::new()
                .part("policy", reqwest::multipart::Part::bytes(test_policy()))
                .text("signature", good.clone()),
        );
    assert_error(&common::answer(both.send().await.unwrap()).await, 400, "bad_request");
    let no_component = reqwest::multipart::Form::new().text("signature", good.clone());
    let res = s.http.put(s.at("/api/admin/policy")).bearer_auth(s.admin_token()).multipart(no_component);
    assert_error(&common::answer(res.send().await.unwrap()).await, 400, "bad_request");
    assert_eq!(show(&s).await["active"]["name"], "imgbed-default", "nothing refused was loaded");
    let (status, body) = put_form(&s, test_policy(), Some(&good), &[]).await;
    assert_eq!(status, 200, "{body}");
    let now = show(&s).await;
    assert_eq!(
        (now["active"]["name"].as_str(), now["active"]["signed_by"].as_str()),
        (Some("imgbed-test"), Some(trusted.public.as_str()))
    );
    assert!(s.upload_png(1).await.starts_with("t-"));
}

#[tokio::test]
async fn without_trusted_keys_nothing_is_checked() {
    let s = Server::start(json!({}));
    assert_eq!(show(&s).await["signatures_required"], false);
    assert_eq!(put(&s, test_policy(), None).await.0, 200);
    assert_eq!(put(&s, std::fs::read(STRICT_POLICY).unwrap(), Some("junk")).await.0, 200);
    let now = show(&s).await;
    assert_eq!((now["active"]["name"].as_str(), &now["active"]["signed_by"]), (Some("imgbed-strict"), &Value::Null));
}

/// A server reading `policy.wasm` (the built-in policy at first: it needs no signature).
fn server_on_a_policy_file(trusted: &Key, watch: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.wasm"), imgbed::policy::BUILTIN_POLICY).unwrap();
    let config = json!({"port": 0, "log": {"level": "warn"}, "auth": {"jwt": false}, "ip_filter": {"enabled": false},
                        "policy": {"path": "policy.wasm", "watch": watch, "trusted_keys": [trusted.public]}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    Server::start_in(dir)
}

/// Replaces a file the way an operator's deploy would: write beside, rename over.
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn the_file_watch_needs_a_valid_signature_beside_the_file() {
    let (_keys, trusted, other) = keys();
    let s = server_on_a_policy_file(&trusted, true);
    let (file, sig) = (s.path().join("policy.wasm"), sig_path(&s.path().join("policy.wasm")));
    const REFUSED: &str = "policy reload refused";

    // The new component without a signature: refused, logged, the running policy stays.
    replace(&file, &test_policy());
    logged(s.path(), REFUSED, 1).await;
    assert!(logs(s.path()).contains("no signature"), "{}", logs(s.path()));
    assert_eq!(show(&s).await["active"]["name"], "imgbed-default");
    // A signature by another key: the watch sees the .sig change, refuses again.
    replace(&sig, signature_of(&other, &test_policy()).as_bytes());
    logged(s.path(), REFUSED, 2).await;
    assert!(logs(s.path()).contains("does not verify"));
    assert_eq!(show(&s).await["active"]["name"], "imgbed-default");
    assert!(!s.upload_png(10).await.starts_with("t-"));

    // The trusted signature: the server follows.
    sign(&trusted, &file);
    until("the watch loads the signed policy", async || show(&s).await["active"]["name"] == "imgbed-test").await;
    let now = show(&s).await;
    assert_eq!(
        (now["active"]["source"].as_str(), now["active"]["signed_by"].as_str()),
        (Some("watch"), Some(&*trusted.public))
    );

    // New bytes with the old signature beside them: refused, the signed one stays.
    replace(&file, &std::fs::read(STRICT_POLICY).unwrap());
    logged(s.path(), REFUSED, 3).await;
    assert_eq!(show(&s).await["active"]["name"], "imgbed-test");
}

#[tokio::test]
async fn sighup_needs_a_valid_signature_beside_the_file() {
    let (_keys, trusted, other) = keys();
    let s = server_on_a_policy_file(&trusted, false);
    let file = s.path().join("policy.wasm");
    const REFUSED: &str = "policy reload refused";
    replace(&file, &test_policy());
    s.signal("HUP");
    logged(s.path(), REFUSED, 1).await;
    replace(&sig_path(&file), signature_of(&other, &test_policy()).as_bytes());
    s.signal("HUP");
    logged(s.path(), REFUSED, 2).await;
    assert_eq!(show(&s).await["active"]["name"], "imgbed-default");

    sign(&trusted, &file);
    s.signal("HUP");
    until("SIGHUP loads the signed policy", async || show(&s).await["active"]["name"] == "imgbed-test").await;
    assert_eq!(show(&s).await["active"]["source"], "sighup");
}

/// Runs the server on `dir` expecting start-up to fail; its stderr.
fn start_fails(dir: &Path) -> String {
    let mut child = Command::new(common::binary())
        .arg("--config")
        .arg(dir.join("config.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started (or hung) instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    err
}

#[tokio::test]
async fn start_up_refuses_an_unsigned_policy_path_with_a_clear_error() {
    let (_keys, trusted, other) = keys();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.wasm");
    std::fs::write(&file, test_policy()).unwrap();
    let config = json!({"port": 0, "log": {"level": "warn"}, "auth": {"jwt": false},
                        "policy": {"path": "policy.wasm", "trusted_keys": [trusted.public]}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();

    let err = start_fails(dir.path());
    assert!(err.contains("policy.path") && err.contains("policy.wasm.sig") && err.contains("no signature"), "{err}");
    std::fs::write(sig_path(&file), signature_of(&other, &test_policy())).unwrap();
    let err = start_fails(dir.path());
    assert!(err.contains("does not verify with any of the 1 trusted key"), "{err}");

    sign(&trusted, &file);
    let s = Server::start_in(dir);
    let now = show(&s).await;
    assert_eq!((now["active"]["name"].as_str(), now["active"]["source"].as_str()), (Some("imgbed-test"), Some("file")));
    assert_eq!(now["active"]["signed_by"], trusted.public.as_str());
}

#[tokio::test]
async fn a_kept_policy_whose_signature_no_longer_verifies_is_not_used() {
    let (_keys, trusted, other) = keys();
    let s = Server::start(json!({"policy": {"trusted_keys": [trusted.public]}}));
    assert_eq!(put(&s, test_policy(), Some(&signature_of(&trusted, &test_policy()))).await.0, 200);
    let dir = s.stop();
    let kept = dir.path().join("policy/active.wasm");

    // Intact: it comes back after a restart, still signed.
    let s = Server::start_in(dir);
    let now = show(&s).await;
    assert_eq!(
        (now["active"]["name"].as_str(), now["active"]["source"].as_str()),
        (Some("imgbed-test"), Some("stored"))
    );
    assert_eq!(now["active"]["signed_by"], trusted.public.as_str());
    let mut dir = s.stop();

    // Each tampering makes start-up fall back to the configured policy (here the built-in
    // one), with the reason in the log; the kept files are left for the operator to see.
    let tamperings: [(&str, &dyn Fn()); 3] = [
        ("another key's signature", &|| std::fs::write(sig_path(&kept), signature_of(&other, &test_policy())).unwrap()),
        ("no signature", &|| std::fs::remove_file(sig_path(&kept)).unwrap()),
        ("other bytes under the signature", &|| {
            std::fs::write(sig_path(&kept), signature_of(&trusted, &test_policy())).unwrap();
            std::fs::write(&kept, std::fs::read(STRICT_POLICY).unwrap()).unwrap();
        }),
    ];
    for (n, (what, tamper)) in tamperings.into_iter().enumerate() {
        tamper();
        let s = Server::start_in(dir);
        let now = show(&s).await;
        assert_eq!(
            (now["active"]["name"].as_str(), now["active"]["source"].as_str()),
            (Some("imgbed-default"), Some("built-in")),
            "{what}: {now}"
        );
        // The log folder is kept across restarts: one more line each time.
        logged(s.path(), "the kept active policy does not load", n + 1).await;
        assert!(!s.upload_png(40).await.starts_with("t-"), "{what}");
        dir = s.stop();
    }
}
