//! Hostile policies and heavy clients: a policy cannot block a worker or the swap lock by
//! waiting, cannot flood the log through stderr, cannot keep bytes twice or serve a file
//! as HTML, a forged compiled-policy cache entry is not run, and a client flooding heavy
//! uploads does not slow down another client's reads.

mod common;

use std::time::{Duration, Instant};

use common::{assert_error, fixtures, Server};
use serde_json::json;

const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");

fn with_test_policy(extra: serde_json::Value) -> serde_json::Value {
    let mut config = json!({"policy": {"path": TEST_POLICY, "deadline_ms": 30000}});
    if let (Some(c), Some(e)) = (config["policy"].as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    config
}

#[tokio::test]
async fn a_policy_that_waits_fails_at_once_and_holds_nothing() {
    let s = Server::start(with_test_policy(json!({"workers": 1, "heavy_workers": 1})));
    let started = Instant::now();
    let got = s.upload(&[("sleep.png", fixtures::png(8, 8, 1), "image/png")]).await;
    assert_error(&got, 500, "policy_trap");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // The only heavy worker is free again.
    let (status, body) = s.upload(&[("fine.png", fixtures::png(8, 8, 2), "image/png")]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_candidate_whose_self_test_waits_is_refused_at_once_and_the_swap_lock_stays_free() {
    // The built-in policy is active; the settings make the test policy's self-test sleep.
    let s = Server::start(json!({"policy": {"settings": {"test.self_test": "sleep"}}}));
    let admin = s.admin_token();
    let wasm = std::fs::read(TEST_POLICY).unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        let res = s.http.put(s.at("/api/admin/policy")).bearer_auth(&admin).body(wasm.clone()).send().await.unwrap();
        assert_error(&common::answer(res).await, 422, "policy_refused");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }
    assert_eq!(s.upload(&[("a.png", fixtures::png(8, 8, 3), "image/png")]).await.0, 200);
}

#[tokio::test]
async fn a_sleeping_self_test_refuses_the_start_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_test_policy(json!({"settings": {"test.self_test": "sleep"}}));
    let mut c = json!({"port": 0});
    c["policy"] = config["policy"].clone();
    std::fs::write(dir.path().join("config.json"), c.to_string()).unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(common::binary())
        .arg("--config")
        .arg(dir.path().join("config.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("self-test") || err.contains("not available in the imgbed sandbox"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

#[tokio::test]
async fn stderr_is_capped_and_bad_answers_are_refused_by_the_host() {
    let s = Server::start(with_test_policy(json!({})));
    let (status, body) = s.upload(&[("yell.png", fixtures::png(8, 8, 3), "image/png")]).await;
    assert_eq!(status, 200, "1 MiB of stderr is not an error: {body}");
    let got = s.upload(&[("mime-html.png", fixtures::png(8, 8, 4), "image/png")]).await;
    assert_error(&got, 500, "policy_invalid");
    let got = s.upload(&[("strip-overlap.png", fixtures::png(8, 8, 5), "image/png")]).await;
    assert_error(&got, 500, "policy_invalid");
    // 64 MiB of answer: stopped before the host copies it (a trap, not an allocation).
    let got = s.upload(&[("strip-huge.png", fixtures::png(8, 8, 6), "image/png")]).await;
    assert_error(&got, 500, "policy_trap");
    assert_eq!(s.stored_files().len(), 1, "{:?}", s.stored_files());
    // The log got a capped share of the stderr.
    let logs: String = std::fs::read_dir(s.path().join("logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    // One entry, escaped onto one line (no forged lines), and capped: of the 1 MiB written
    // only about 8 KiB (escaped: a little more) reaches the log.
    let entries: Vec<&str> = logs.lines().filter(|l| l.contains("wrote to stderr")).collect();
    assert_eq!(entries.len(), 1, "{logs}");
    let logged: usize = logs.lines().filter(|l| l.contains("xxxx")).map(str::len).sum();
    assert!(logged < 12 * 1024, "{logged} bytes of stderr in the log");
}

#[tokio::test]
async fn a_forged_cache_entry_is_not_run() {
    // A first run compiles both the built-in and the test policy into the cache.
    let s = Server::start(json!({}));
    let dir = s.stop();
    let cache = dir.path().join("cache");
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let builtin = entries[0].clone();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    config["policy"]["path"] = json!(TEST_POLICY);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let s = Server::start_in(dir);
    let dir = s.stop();
    let test = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.path()).find(|p| *p != builtin).unwrap();
    // Someone who can write the cache folder puts the test policy's code under the
    // built-in's name; then the built-in policy is asked for again.
    std::fs::copy(&test, &builtin).unwrap();
    config["policy"]["path"] = json!("");
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let s = Server::start_in(dir);
    // The test policy would take this for a PNG (it checks only the signature) and name it t-…;
    // the built-in policy decodes it and refuses it.
    let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
    fake.extend_from_slice(&[0u8; 64]);
    let (status, body) = s.upload(&[("x.png", fake, "image/png")]).await;
    assert!(status >= 400, "the forged artifact ran: {body}");
}

/// (Here rather than beside the calibrated sandbox tests: compiling the component takes a
/// core.) What the built-in policy may import: the contract and the parts of WASI that Rust's
/// `std` uses routinely (all answered harmlessly by the sandbox). No sockets, no HTTP.
#[test]
fn the_built_in_policy_imports_only_what_the_sandbox_allows() {
    const ALLOWED: &[&str] = &[
        "imgbed:policy/",
        "wasi:cli/environment@",
        "wasi:cli/exit@",
        "wasi:cli/stdin@",
        "wasi:cli/stdout@",
        "wasi:cli/stderr@",
        "wasi:cli/terminal-",
        "wasi:io/error@",
        "wasi:io/streams@",
        "wasi:io/poll@",
        "wasi:clocks/wall-clock@",
        "wasi:clocks/monotonic-clock@",
        "wasi:random/",
        "wasi:filesystem/types@",
        "wasi:filesystem/preopens@",
    ];
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let component = wasmtime::component::Component::new(&engine, imgbed::policy::BUILTIN_POLICY).unwrap();
    let imports: Vec<String> = component.component_type().imports(&engine).map(|(n, _)| n.to_string()).collect();
    assert!(imports.iter().any(|i| i.starts_with("imgbed:policy/host")), "{imports:?}");
    for import in &imports {
        assert!(ALLOWED.iter().any(|a| import.starts_with(a)), "the built-in policy imports {import}");
    }
}
