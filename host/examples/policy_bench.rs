//! Policy overhead per upload, in the sandbox: fresh store + instance, then
//! `inspect` + `name` on a PNG; the bare instantiate-and-call cost (`authorize`)
//! for the default policy and for a minimal one (the test policy); and swap
//! latency with and without the compiled-artifact cache.
//!
//! cargo run --release -p imgbed-host --example policy_bench -- [ITERATIONS] [BYTES]

mod bench_support;

use bench_support::{default_policy, noise_png, staged};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imgbed::policy::{
    facts, Action, Options, PolicyRuntime, Principal, PrincipalKind, RequestedAction, BUILTIN_POLICY,
};

const MINIMAL: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let p = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: mean {:.1} µs  p50 {:.1} µs  p99 {:.1} µs  (n={})",
        mean.as_secs_f64() * 1e6,
        p(0.5).as_secs_f64() * 1e6,
        p(0.99).as_secs_f64() * 1e6,
        times.len()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: usize = args.get(1).map_or(200, |a| a.parse().unwrap());
    let bytes: usize = args.get(2).map_or(200_000, |a| a.parse().unwrap());
    let deadline = Duration::from_secs(5);
    let t = Instant::now();
    let rt = default_policy(deadline);
    println!(
        "compile + check + self-test of the default policy ({} bytes): {:.1} ms",
        BUILTIN_POLICY.len(),
        t.elapsed().as_secs_f64() * 1e3
    );

    let png = noise_png(bytes, 7);
    let (f, upload) = staged(&png, "bench.png", "image/png");
    let principal = Principal { kind: PrincipalKind::User, id: "bench".into(), attributes: vec![] };

    // Warm up, then measure whole policy calls as the upload handler makes them.
    for _ in 0..10 {
        let (u, file) = (upload.clone(), f.reopen().unwrap());
        rt.run(move |s| s.inspect(&u, &file)).await.unwrap().unwrap();
    }
    let mut upload_times = Vec::new();
    for _ in 0..iterations {
        let (u, file) = (upload.clone(), f.reopen().unwrap());
        let t = Instant::now();
        rt.run(move |s| {
            let media = s.inspect(&u, &file)?.unwrap();
            s.name(&u, &media, "base64", 0)
        })
        .await
        .unwrap()
        .unwrap();
        upload_times.push(t.elapsed());
    }
    report(&format!("inspect + name, {} byte PNG (instantiate included)", png.len()), upload_times);

    bare_calls(&rt, &principal, iterations * 5, "default policy").await;
    let limits = bench_support::limits(deadline);
    let minimal = std::fs::read(MINIMAL).unwrap();
    let small =
        Arc::new(PolicyRuntime::new(&minimal, limits, Default::default(), imgbed::policy::no_storage()).unwrap());
    bare_calls(&small, &principal, iterations * 5, &format!("minimal policy, {} bytes", minimal.len())).await;

    // Swap latency: a swap is the admin call's work; the next request uses the new policy.
    let cache = tempfile::tempdir().unwrap();
    let options = Options {
        cache_dir: Some(cache.path().to_path_buf()),
        store_dir: None,
        cache_key: Some(vec![7; 32]),
        ..Default::default()
    };
    let swapper = Arc::new(
        PolicyRuntime::with_options(
            &imgbed::policy::Candidate::new(minimal.clone(), "bench"),
            limits,
            Default::default(),
            imgbed::policy::no_storage(),
            options,
        )
        .unwrap(),
    );
    let builtin = BUILTIN_POLICY.to_vec();
    let t = Instant::now();
    let first = swapper.swap(builtin.clone(), "bench").await.unwrap();
    let cold = t.elapsed();
    assert_ne!(first.compiled_by, "cache");
    let mut warm = Vec::new();
    for i in 0..20 {
        let bytes = if i % 2 == 0 { minimal.clone() } else { builtin.clone() };
        let t = Instant::now();
        let loaded = swapper.swap(bytes, "bench").await.unwrap();
        warm.push(t.elapsed());
        assert_eq!(loaded.compiled_by, "cache");
    }
    println!("swap to the default policy without cache (compile): {:.1} ms", cold.as_secs_f64() * 1e3);
    report("swap with the artifact cache (default/minimal alternating)", warm);
}

async fn bare_calls(rt: &Arc<PolicyRuntime>, principal: &Principal, n: usize, what: &str) {
    let mut bare = Vec::new();
    for _ in 0..n {
        let p = principal.clone();
        let t = Instant::now();
        let list = RequestedAction::Known(Action::ImageList);
        rt.run(move |s| s.authorize(&list, &p, &facts())).await.unwrap().unwrap();
        bare.push(t.elapsed());
    }
    report(&format!("instantiate + authorize, {what} (incl. thread hand-off)"), bare);
    // Fresh store + instance + call on this thread: the sandbox cost without the hand-off.
    let mut inside = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let mut session = rt.instantiate_blocking().unwrap();
        session.authorize(&RequestedAction::Known(Action::ImageList), principal, &facts()).unwrap().unwrap();
        inside.push(t.elapsed());
    }
    report(&format!("fresh store + instance + authorize, {what}"), inside);
}
