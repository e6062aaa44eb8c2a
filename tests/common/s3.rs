//! Files in S3 for the black-box tests: `IMGBED_TEST_BLOB=s3` puts every test server's
//! files in the SeaweedFS bucket `scripts/test.sh` starts (each server under a key prefix
//! of its own), and these helpers look into the bucket the way the tests look into the
//! image folder otherwise.

use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::ObjectStore;
use serde_json::{json, Value};

/// Where the tests keep files: `IMGBED_TEST_BLOB` = "local" (default) or "s3" (then the
/// S3 test server must be running; no silent skip).
pub fn blob() -> &'static str {
    match std::env::var("IMGBED_TEST_BLOB").as_deref() {
        Ok("s3") => "s3",
        Ok("local") | Err(_) => "local",
        Ok(other) => panic!("IMGBED_TEST_BLOB={other}: expected local or s3"),
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which starts the S3 test server")
    })
}

/// The `database.s3` block for the test bucket under a fresh prefix (the right
/// credentials unless `secret` says otherwise).
pub fn config_with_secret(secret: &str) -> Value {
    let prefix = format!("t-{:016x}/", super::rand_u64());
    json!({"endpoint": var("IMGBED_TEST_S3"), "bucket": var("IMGBED_TEST_S3_BUCKET"), "prefix": prefix,
           "access_key": var("IMGBED_TEST_S3_ACCESS"), "secret_key": secret, "timeout_ms": 5000})
}

/// The `database.s3` block for the test bucket under a fresh prefix.
pub fn config() -> Value {
    config_with_secret(&var("IMGBED_TEST_S3_SECRET"))
}

/// The config part that puts files in S3 (`{"database": {"blob": "s3", "s3": …}}`).
pub fn blob_config() -> Value {
    json!({"database": {"blob": "s3", "s3": config()}})
}

/// Keys below `prefix` in the test bucket, relative to it, sorted. Blocking (its own
/// runtime on a thread of its own), so that sync helpers can use it.
pub fn keys_under(prefix: &str) -> Vec<String> {
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let client = AmazonS3Builder::new()
                .with_endpoint(var("IMGBED_TEST_S3"))
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_bucket_name(var("IMGBED_TEST_S3_BUCKET"))
                .with_access_key_id(var("IMGBED_TEST_S3_ACCESS"))
                .with_secret_access_key(var("IMGBED_TEST_S3_SECRET"))
                .build()
                .unwrap();
            let at = Path::from(prefix.trim_end_matches('/'));
            let mut listed = client.list(Some(&at));
            let mut out = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while let Some(meta) = tokio::time::timeout_at(deadline, listed.next()).await.expect("S3 listing") {
                let key = meta.unwrap().location.to_string();
                out.push(key.strip_prefix(prefix.as_str()).unwrap_or(&key).to_string());
            }
            out.sort();
            out
        })
    })
    .join()
    .unwrap()
}
