//! Files in S3 for the black-box tests: `IMGBED_TEST_BLOB=s3` puts every test server's
//! files in the SeaweedFS bucket `scripts/test.sh` starts (each server under a key prefix
//! of its own), and these helpers look into the bucket the way the tests look into the
//! image folder otherwise.

use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
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
           "access_key": var("IMGBED_TEST_S3_ACCESS"), "secret_key": secret, "timeout_ms": 5000,
           // One test host at a time: judged by its start time alone, as a local folder is.
           "grace_s": 0})
}

/// The `database.s3` block for the test bucket under a fresh prefix.
pub fn config() -> Value {
    config_with_secret(&var("IMGBED_TEST_S3_SECRET"))
}

/// The config part that puts files in S3 (`{"database": {"blob": "s3", "s3": …}}`).
pub fn blob_config() -> Value {
    json!({"database": {"blob": "s3", "s3": config()}})
}

/// A client of the test bucket (its root, not a server's prefix).
pub fn client() -> impl ObjectStore {
    AmazonS3Builder::new()
        .with_endpoint(var("IMGBED_TEST_S3"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(var("IMGBED_TEST_S3_BUCKET"))
        .with_access_key_id(var("IMGBED_TEST_S3_ACCESS"))
        .with_secret_access_key(var("IMGBED_TEST_S3_SECRET"))
        .build()
        .unwrap()
}

/// Runs `op` on a runtime of its own on a thread of its own, so sync helpers can use S3.
fn blocking<T: Send + 'static>(op: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), op).await.expect("S3 answered in time") })
    })
    .join()
    .unwrap()
}

/// Keys below `prefix` in the test bucket, relative to it, sorted.
pub fn keys_under(prefix: &str) -> Vec<String> {
    let prefix = prefix.to_string();
    blocking(async move {
        let at = Path::from(prefix.trim_end_matches('/'));
        let mut listed = client().list(Some(&at));
        let mut out = Vec::new();
        while let Some(meta) = listed.next().await {
            let key = meta.unwrap().location.to_string();
            out.push(key.strip_prefix(prefix.as_str()).unwrap_or(&key).to_string());
        }
        out.sort();
        out
    })
}

/// Stores `bytes` as `name` under `store` (e.g. "{prefix}thumbs/"): a new name the way
/// the server does (an object of its own, then the name's pointer); a stored name by
/// replacing the bytes of the object it points at — the object its record's key names
/// too, as a file changed behind the server's back would be.
pub fn put_blob(store: &str, name: &str, bytes: Vec<u8>) {
    let (store, name) = (store.to_string(), name.to_string());
    blocking(async move {
        let at = Path::from(format!("{store}names/{name}"));
        if let Ok(got) = client().get(&at).await {
            let p: Value = serde_json::from_slice(&got.bytes().await.unwrap()).unwrap();
            let object = Path::from(format!("{store}{}", p["object"].as_str().unwrap()));
            client().put(&object, PutPayload::from(bytes)).await.unwrap();
            return;
        }
        let object = format!("objects/{name}/{:032x}", super::rand_u64());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let pointer = json!({"object": object, "length": bytes.len(), "created": now});
        client().put(&Path::from(format!("{store}{object}")), PutPayload::from(bytes)).await.unwrap();
        client().put(&at, PutPayload::from(pointer.to_string().into_bytes())).await.unwrap();
    })
}

/// The bytes a pointer (`names/…` or `quarantine/…` below `store`) leads to, if any.
pub fn blob_bytes(store: &str, pointer: &str) -> Option<Vec<u8>> {
    let (store, pointer) = (store.to_string(), pointer.to_string());
    blocking(async move {
        let got = client().get(&Path::from(format!("{store}{pointer}"))).await.ok()?;
        let p: Value = serde_json::from_slice(&got.bytes().await.unwrap()).unwrap();
        let at = Path::from(format!("{store}{}", p["object"].as_str().unwrap()));
        Some(client().get(&at).await.unwrap().bytes().await.unwrap().to_vec())
    })
}
