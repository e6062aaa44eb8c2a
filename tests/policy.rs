//! The default policy's logic, run inside the real sandbox through the host runtime.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use common::fixtures;
use imgbed::policy::{Limits, Media, MediaKind, PolicyRuntime, Principal, Rejection, Upload, BUILTIN_POLICY};

fn runtime(settings: &[(&str, &str)]) -> Arc<PolicyRuntime> {
    let limits = Limits { memory_bytes: 256 << 20, deadline: Duration::from_secs(5), workers: 2, heavy_workers: 2 };
    let settings: BTreeMap<String, String> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Arc::new(
        PolicyRuntime::new(BUILTIN_POLICY, limits, settings, imgbed::policy::no_storage())
            .expect("default policy loads"),
    )
}

fn upload(filename: &str, size: u64) -> Upload {
    Upload {
        filename: filename.into(),
        declared_type: String::new(),
        size,
        digest: "ab".repeat(32),
        owner: "alice".into(),
        received_at: 1795463366.4363468,
    }
}

async fn inspect(rt: &Arc<PolicyRuntime>, bytes: Vec<u8>) -> Result<Media, Rejection> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&bytes).unwrap();
    let file = f.reopen().unwrap();
    let up = upload("x", bytes.len() as u64);
    rt.run(move |s| s.inspect(&up, &file)).await.expect("no trap")
}

fn png_media() -> Media {
    Media {
        kind: MediaKind::Image,
        format: "png".into(),
        extension: "png".into(),
        mime: "image/png".into(),
        width: 1,
        height: 1,
        frames: 1,
        duration_ms: None,
        codec: None,
    }
}

async fn name(rt: &Arc<PolicyRuntime>, filename: &str, rule: &str, attempt: u32) -> Result<String, Rejection> {
    let up = upload(filename, 1);
    let rule = rule.to_string();
    rt.run(move |s| s.name(&up, &png_media(), &rule, attempt)).await.expect("no trap")
}

#[tokio::test]
async fn naming_follows_the_seed_rules_with_a_path_safe_alphabet() {
    let rt = runtime(&[]);
    let info = rt.active().info.clone();
    assert_eq!(info.name, "imgbed-default");
    // Expected values computed with Python, as the original did:
    // base64.urlsafe_b64encode(b"hello.png1795463366.4363468"), hashlib.md5(...).hexdigest().
    assert_eq!(name(&rt, "Hello.PNG", "base64", 0).await.unwrap(), "aGVsbG8ucG5nMTc5NTQ2MzM2Ni40MzYzNDY4.png");
    assert_eq!(name(&rt, "Hello.PNG", "md5", 0).await.unwrap(), "5a173e2ca11125deab21cb4a50a2a543.png");
    assert_eq!(name(&rt, "../../etc/passwd", "md5", 0).await.unwrap(), "73cb110ec11703bd2cbfcf674e191cac.png");
    // Standard base64 would give '+' or '/' here ("5Zu+54mH..."); ours is URL-safe and unpadded.
    assert_eq!(name(&rt, "图片 Ä.PNG", "base64", 0).await.unwrap(), "5Zu-54mHIMOkLnBuZzE3OTU0NjMzNjYuNDM2MzQ2OA.png");
    assert_eq!(name(&rt, "图片 Ä.PNG", "md5", 0).await.unwrap(), "ddf3d4f826bb109be5a7385758441089.png");
    // A retry after a clash gives another name.
    assert_ne!(name(&rt, "Hello.PNG", "base64", 1).await.unwrap(), name(&rt, "Hello.PNG", "base64", 0).await.unwrap());
    // Content naming uses the digest.
    assert_eq!(name(&rt, "x", "content", 0).await.unwrap(), format!("{}.png", "ab".repeat(16)));
    // Very long client names still give a short, safe name.
    let long = name(&rt, &"é".repeat(5000), "base64", 0).await.unwrap();
    assert!(long.len() <= 200, "{}", long.len());
    let err = name(&rt, "a", "sha1", 0).await.unwrap_err();
    assert_eq!(err.code, "unknown_rule");
}

#[tokio::test]
async fn inspect_decodes_and_describes_each_format() {
    let rt = runtime(&[]);
    let m = inspect(&rt, fixtures::png(7, 5, 1)).await.unwrap();
    assert_eq!((m.format.as_str(), m.extension.as_str(), m.width, m.height, m.frames), ("png", "png", 7, 5, 1));
    let m = inspect(&rt, fixtures::jpeg(9, 4, 2)).await.unwrap();
    assert_eq!(
        (m.format.as_str(), m.extension.as_str(), m.mime.as_str(), m.width, m.height),
        ("jpeg", "jpg", "image/jpeg", 9, 4)
    );
    let m = inspect(&rt, fixtures::gif(6, 6, 4, 3)).await.unwrap();
    assert_eq!((m.kind, m.frames, m.duration_ms), (MediaKind::Animation, 4, Some(400)));
    let m = inspect(&rt, fixtures::webp(10, 3, 4)).await.unwrap();
    assert_eq!((m.format.as_str(), m.width, m.height, m.kind), ("webp", 10, 3, MediaKind::Image));
}

#[tokio::test]
async fn inspect_refuses_what_does_not_decode_or_is_too_big() {
    let rt = runtime(&[("max_width", "100"), ("max_frames", "3")]);
    let refused = |r: Result<Media, Rejection>| r.expect_err("refused");
    let r = refused(inspect(&rt, b"just text".to_vec()).await);
    assert_eq!((r.status, r.code.as_str()), (415, "unsupported_type"));
    let r = refused(inspect(&rt, Vec::new()).await);
    assert_eq!((r.status, r.code.as_str()), (400, "empty_upload"));
    let r = refused(inspect(&rt, fixtures::png(101, 1, 1)).await);
    assert_eq!((r.status, r.code.as_str()), (422, "image_too_large"));
    let r = refused(inspect(&rt, fixtures::gif(4, 4, 4, 1)).await);
    assert_eq!(r.code, "image_too_large", "{}", r.message);
    let r = refused(inspect(&rt, fixtures::png_declaring(50, 50)).await);
    assert_eq!(r.code, "corrupt_image", "a bogus data stream does not decode");
    let jpeg = fixtures::jpeg(32, 32, 5);
    let r = refused(inspect(&rt, fixtures::truncated(&jpeg, jpeg.len() - 2)).await);
    assert_eq!(r.code, "corrupt_image", "a JPEG without its end marker");
}

#[tokio::test]
async fn authorize_reproduces_the_access_rules() {
    let rt = runtime(&[]);
    let who = |kind: &str, id: &str| Principal {
        kind: imgbed::policy::parse_kind(kind).unwrap(),
        id: id.into(),
        attributes: vec![],
    };
    let ask = |p: Principal, action: &'static str, facts: Vec<(String, String)>| {
        let rt = rt.clone();
        let (action, facts) = (imgbed::policy::parse_action(action), imgbed::policy::facts_from_pairs(&facts));
        async move { rt.run(move |s| s.authorize(&action, &p, &facts)).await.expect("no trap") }
    };
    let owner = |o: &str| vec![("owner".to_string(), o.to_string())];
    assert!(ask(who("user", "a"), "image.upload", vec![]).await.is_ok());
    assert!(ask(who("user", "a"), "image.delete", owner("a")).await.is_ok());
    assert_eq!(ask(who("user", "a"), "image.delete", owner("b")).await.unwrap_err().status, 404);
    assert_eq!(ask(who("anonymous", ""), "image.list", vec![]).await.unwrap_err().status, 401);
    assert_eq!(ask(who("user", "a"), "admin.init-db", vec![]).await.unwrap_err().status, 403);
    assert!(ask(who("admin", "admin"), "admin.init-db", vec![]).await.is_ok());
    assert!(ask(who("admin", "admin"), "image.delete", owner("b")).await.is_ok());
    assert_eq!(ask(who("user", "a"), "something.else", vec![]).await.unwrap_err().status, 403);
    // An action the contract does not name (`other`) is refused, also under a prefix whose
    // known actions are allowed, and also to an admin.
    for (kind, action) in [("user", "image.rename"), ("admin", "image.rename"), ("admin", "admin.purge")] {
        let r = ask(who(kind, "a"), action, vec![]).await.unwrap_err();
        assert_eq!((r.status, r.code.as_str()), (403, "forbidden"), "{action} as {kind}");
    }
}

#[tokio::test]
async fn configure_refuses_bad_settings() {
    let limits = Limits { memory_bytes: 64 << 20, deadline: Duration::from_secs(5), workers: 1, heavy_workers: 1 };
    let settings = BTreeMap::from([("image_rule".to_string(), "sha1".to_string())]);
    let err =
        PolicyRuntime::new(BUILTIN_POLICY, limits, settings, imgbed::policy::no_storage()).err().expect("refused");
    assert!(err.to_string().contains("image_rule"), "{err}");
    let err =
        PolicyRuntime::new(b"not wasm", limits, BTreeMap::new(), imgbed::policy::no_storage()).err().expect("refused");
    assert!(err.to_string().contains("not a valid component"), "{err}");
}

/// A runtime of the built-in policy whose components are compiled by `compiler`.
fn compiled_by(compiler: &str) -> Arc<imgbed::policy::LoadedPolicy> {
    let limits = Limits { memory_bytes: 64 << 20, deadline: Duration::from_secs(5), workers: 1, heavy_workers: 1 };
    let options = imgbed::policy::Options { compiler: Some(compiler.into()), ..Default::default() };
    let candidate = imgbed::policy::Candidate::new(BUILTIN_POLICY.to_vec(), "built-in");
    let runtime =
        PolicyRuntime::with_options(&candidate, limits, BTreeMap::new(), imgbed::policy::no_storage(), options)
            .expect("the built-in policy loads");
    runtime.active()
}

#[test]
fn a_policy_is_compiled_in_a_child_process_or_else_in_process() {
    // The real binary as the compiler child: its artifact loads and runs here.
    let loaded = compiled_by(common::binary());
    assert_eq!(loaded.compiled_by, "child");
    assert_eq!(loaded.info.name, "imgbed-default");
    // A compiler that fails (or is not there) only costs compiling in process.
    for broken in ["/bin/false", "/nonexistent/imgbed"] {
        assert_eq!(compiled_by(broken).compiled_by, "server", "{broken}");
    }
    // What the child finds is not a component is refused with its reason (not compiled again).
    let limits = Limits { memory_bytes: 64 << 20, deadline: Duration::from_secs(5), workers: 1, heavy_workers: 1 };
    let options = imgbed::policy::Options { compiler: Some(common::binary().into()), ..Default::default() };
    let junk = imgbed::policy::Candidate::new(b"\0asm junk".to_vec(), "test");
    let refused = PolicyRuntime::with_options(&junk, limits, BTreeMap::new(), imgbed::policy::no_storage(), options);
    let why = refused.err().expect("junk is refused").to_string();
    assert!(why.contains("not a valid component"), "{why}");
}
