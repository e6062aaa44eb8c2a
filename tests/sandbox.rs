//! Sandbox limits and isolation, with a misbehaving test policy in the real runtime:
//! traps, endless loops, memory hogs and garbage answers fail one call, and the next works.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixtures;
use imgbed::policy::{Limits, PolicyError, PolicyRuntime, Upload};

const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");

fn test_policy() -> Vec<u8> {
    std::fs::read(TEST_POLICY).expect("the test policy is built by the host's build script")
}

fn runtime(memory_mb: usize, deadline_ms: u64, settings: &[(&str, &str)]) -> Result<Arc<PolicyRuntime>, PolicyError> {
    let limits = Limits {
        memory_bytes: memory_mb << 20,
        deadline: Duration::from_millis(deadline_ms),
        workers: 2,
        heavy_workers: 2,
    };
    let settings: BTreeMap<String, String> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    PolicyRuntime::new(&test_policy(), limits, settings, imgbed::policy::no_storage()).map(Arc::new)
}

/// `bytes` in a temp file, as an upload named `filename` with the digest `digest` × 32:
/// (the temp file, kept while used; a handle to it; the upload).
fn staged(filename: &str, bytes: &[u8], digest: &str) -> (tempfile::NamedTempFile, std::fs::File, Upload) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    let file = f.reopen().unwrap();
    let upload = Upload {
        filename: filename.into(),
        declared_type: String::new(),
        size: bytes.len() as u64,
        digest: digest.repeat(32),
        owner: "o".into(),
        received_at: 1.5,
    };
    (f, file, upload)
}

async fn inspect_and_name(rt: &Arc<PolicyRuntime>, filename: &str) -> Result<Result<String, String>, PolicyError> {
    let (_f, file, upload) = staged(filename, &fixtures::png(4, 4, 1), "cd");
    rt.run(move |s| match s.inspect(&upload, &file)? {
        Ok(media) => Ok(s.name(&upload, &media, "base64", 0)?.map_err(|r| r.code)),
        Err(r) => Ok(Err(r.code)),
    })
    .await
}

async fn works(rt: &Arc<PolicyRuntime>) {
    let name = inspect_and_name(rt, "fine.png").await.expect("no trap").expect("accepted");
    assert_eq!(name, format!("t-{}.png", "cd".repeat(12)));
}

#[tokio::test]
async fn a_trap_fails_one_call_only() {
    let rt = runtime(64, 2000, &[]).unwrap();
    let err = inspect_and_name(&rt, "trap.png").await.unwrap_err();
    assert!(matches!(err, PolicyError::Trap(_)), "{err:?}");
    assert_eq!(err.code(), "policy_trap");
    works(&rt).await;
    assert_eq!(rt.active().stats.snapshot().traps, 1);
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_deadline() {
    let rt = runtime(64, 300, &[]).unwrap();
    let t = Instant::now();
    let err = inspect_and_name(&rt, "loop.png").await.unwrap_err();
    let took = t.elapsed();
    assert!(matches!(err, PolicyError::Timeout), "{err:?}");
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(5), "deadline obeyed: {took:?}");
    works(&rt).await;
    assert_eq!(rt.active().stats.snapshot().timeouts, 1);
}

#[tokio::test]
async fn work_within_the_deadline_finishes() {
    let rt = runtime(64, 5000, &[("test.slow_ms", "50")]).unwrap();
    assert!(inspect_and_name(&rt, "slow.png").await.unwrap().is_ok());
}

#[tokio::test]
async fn a_memory_hog_hits_the_cap() {
    let rt = runtime(32, 5000, &[]).unwrap();
    let err = inspect_and_name(&rt, "hog.png").await.unwrap_err();
    assert!(matches!(err, PolicyError::Trap(_)), "{err:?}");
    works(&rt).await;
}

#[tokio::test]
async fn garbage_answers_are_caught_by_the_host() {
    let rt = runtime(64, 2000, &[]).unwrap();
    for file in ["slash.png", "dots.png", "nul.png", "long.png", "status.png"] {
        let err = inspect_and_name(&rt, file).await.unwrap_err();
        assert!(matches!(err, PolicyError::Invalid(_)), "{file}: {err:?}");
        assert_eq!(err.code(), "policy_invalid");
    }
    works(&rt).await;
    assert_eq!(rt.active().stats.snapshot().invalid_answers, 5);
}

#[tokio::test]
async fn bad_candidates_are_refused_and_the_running_policy_stays() {
    let rt = runtime(64, 2000, &[]).unwrap();
    let before = rt.active().sha256.clone();
    // Not wasm; a component of another world; a core module; a failing self-test.
    let empty_component = wat::parse_str("(component)").unwrap();
    let core_module = wat::parse_str("(module)").unwrap();
    for (bytes, expect) in [
        (b"garbage".to_vec(), "not a valid component"),
        (empty_component, "does not export the imgbed:policy/api interface"),
        (core_module, "not a valid component"),
    ] {
        let err = rt.swap(bytes, "test").await.unwrap_err();
        assert!(err.to_string().contains(expect), "{err}");
        assert_eq!(rt.active().sha256, before);
    }
    let failing = runtime(64, 2000, &[("test.self_test", "fail")]).err().expect("refused");
    assert!(failing.to_string().contains("self-test"), "{failing}");
    works(&rt).await;
}

#[tokio::test]
async fn another_major_version_is_refused_with_a_clear_message() {
    // A component exporting imgbed:policy/api@3.0.0 (an empty instance is enough to be refused).
    let v3 = wat::parse_str(r#"(component (instance $i) (export "imgbed:policy/api@3.0.0" (instance $i)))"#).unwrap();
    let rt = runtime(64, 2000, &[]).unwrap();
    let err = rt.swap(v3, "test").await.unwrap_err().to_string();
    assert!(err.contains("imgbed:policy/api@3.0.0") && err.contains("imgbed:policy@2.1.0"), "{err}");
    assert!(err.contains("imgbed:policy@1.0.0"), "the message names every contract this host runs: {err}");
    // A 2.0 export that is not the 2.0 interface is refused too, not half-loaded.
    let fake = wat::parse_str(r#"(component (instance $i) (export "imgbed:policy/api@2.0.0" (instance $i)))"#).unwrap();
    let err = rt.swap(fake, "test").await.unwrap_err().to_string();
    assert!(err.contains("exports do not match") || err.contains("imports"), "{err}");
}

#[tokio::test]
async fn swap_and_rollback_in_the_runtime() {
    let rt = runtime(64, 2000, &[("test.version", "1.0.0")]).unwrap();
    assert!(rt.rollback().await.is_err(), "nothing to roll back to yet");
    let builtin = imgbed::policy::BUILTIN_POLICY.to_vec();
    let loaded = rt.swap(builtin, "test").await.unwrap();
    assert_eq!(loaded.info.name, "imgbed-default");
    assert_eq!(rt.active().info.name, "imgbed-default");
    assert_eq!(rt.previous().unwrap().info.name, "imgbed-test");
    rt.rollback().await.unwrap();
    assert_eq!(rt.active().info.name, "imgbed-test");
    works(&rt).await;
}

#[tokio::test]
async fn the_guest_sees_no_files_environment_or_clock() {
    let rt = runtime(64, 2000, &[]).unwrap();
    let (_f, file, upload) = staged("peek.png", &fixtures::png(2, 2, 3), "ab");
    let out = rt
        .run(move |s| {
            let media = s.inspect(&upload, &file)?.expect("accepted");
            s.name(&upload, &media, "base64", 0)
        })
        .await
        .unwrap();
    let r = out.expect_err("peek answers with what it saw");
    assert_eq!(r.message, "files=false env=0 time=0");
}

/// Instances are fresh: what one wrote into its memory (zeroed and initialised statics, and
/// the first pages of linear memory; the pooling allocator keeps touched pages mapped and
/// resets them in place between instances) is gone in the next one.
#[tokio::test]
async fn an_instance_never_sees_what_an_earlier_one_wrote() {
    let rt = runtime(64, 2000, &[]).unwrap();
    for _ in 0..6 {
        assert_eq!(inspect_and_name(&rt, "memo.png").await.unwrap(), Ok("t-memo-0.png".into()));
    }
    // The probe does see marks: the second call of one session finds the first's.
    let (_f, file, upload) = staged("memo.png", &fixtures::png(4, 4, 1), "cd");
    let names = rt
        .run(move |s| {
            let media = s.inspect(&upload, &file)?.expect("accepted");
            let first = s.name(&upload, &media, "base64", 0)?.map_err(|r| r.code);
            Ok((first, s.name(&upload, &media, "base64", 0)?.map_err(|r| r.code)))
        })
        .await
        .unwrap();
    assert_eq!(names, (Ok("t-memo-0.png".to_string()), Ok(format!("t-memo-{}.png", 3 * 64 * 1024))));
}

/// Runs `first` then `second` in one session; returns how long each took and the second's error.
async fn two_calls(rt: &Arc<PolicyRuntime>, first: &str, second: &str) -> (Duration, Duration, Option<PolicyError>) {
    let (_f, file, a) = staged(first, &fixtures::png(4, 4, 2), "ab");
    let b = Upload { filename: second.into(), ..a.clone() };
    rt.run(move |s| {
        let t = Instant::now();
        s.inspect(&a, &file)?.expect("the first call finishes within its deadline");
        let first = t.elapsed();
        let t = Instant::now();
        let err = s.inspect(&b, &file).err();
        Ok((first, t.elapsed(), err))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_deadline_is_per_call_not_per_session() {
    // Calibrate the test policy's spin (no clock in the sandbox) to take about half a second.
    let probe = runtime(64, 30_000, &[("test.slow_ms", "1000")]).unwrap();
    let (spin, _, _) = two_calls(&probe, "slow.png", "fine.png").await;
    let slow_ms = (1000.0 * 500.0 / spin.as_secs_f64().max(0.001) / 1000.0).round().max(1.0) as u64;
    // One session (one upload) makes several calls; each gets the whole 1 s deadline.
    let rt = runtime(64, 1000, &[("test.slow_ms", &slow_ms.to_string())]).unwrap();
    let (first, second, err) = two_calls(&rt, "slow.png", "loop.png").await;
    assert!(matches!(err, Some(PolicyError::Timeout)), "{err:?}");
    assert!(first >= Duration::from_millis(200), "calibration failed: the first call took {first:?}");
    assert!(second >= Duration::from_millis(850), "second call cut short after {second:?} (first took {first:?})");
}
