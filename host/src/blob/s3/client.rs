//! Talking to the bucket: the client built from `database.s3`, every operation bounded
//! in time, and object_store's errors as I/O errors the HTTP layer already maps (an
//! unreachable or slow service is `NotConnected`/`TimedOut`: a 503).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use crate::config::S3Config;

/// The client for `config`'s bucket. Nothing is sent yet.
pub fn build(config: &S3Config) -> io::Result<Arc<AmazonS3>> {
    let timeout = Duration::from_millis(config.timeout_ms);
    let options = ClientOptions::new()
        .with_allow_http(config.endpoint.starts_with("http://"))
        .with_connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        // A download is streamed for as long as its client reads: no bound on the whole
        // request, a bound on each read instead (and on the wait for the answer: `bounded`).
        .with_timeout_disabled()
        .with_read_timeout(timeout);
    let retry = RetryConfig {
        backoff: BackoffConfig { init_backoff: Duration::from_millis(50), max_backoff: timeout / 4, base: 2.0 },
        max_retries: config.retries as usize,
        retry_timeout: timeout,
    };
    let mut builder = AmazonS3Builder::new()
        .with_region(&config.region)
        .with_bucket_name(&config.bucket)
        .with_virtual_hosted_style_request(!config.path_style)
        .with_client_options(options)
        .with_retry(retry);
    if !config.endpoint.is_empty() {
        builder = builder.with_endpoint(&config.endpoint);
    }
    builder = match config.access_key.is_empty() {
        true => builder.with_skip_signature(true),
        false => builder.with_access_key_id(&config.access_key).with_secret_access_key(&config.secret_key),
    };
    builder.build().map(Arc::new).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

/// An object_store error as an I/O error.
pub fn io_error(e: object_store::Error) -> io::Error {
    use object_store::Error as E;
    let kind = match &e {
        E::NotFound { .. } => io::ErrorKind::NotFound,
        E::AlreadyExists { .. } | E::Precondition { .. } => io::ErrorKind::AlreadyExists,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        // A failed request (refused connection, timeout, a 5xx after the retries): the
        // service is not there for us now.
        E::Generic { .. } => io::ErrorKind::NotConnected,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("S3: {e}"))
}

/// `op` as an I/O result, or `TimedOut` once `limit` has passed.
pub async fn bounded<T>(
    limit: Duration,
    op: impl std::future::Future<Output = object_store::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(limit, op).await {
        Ok(r) => r.map_err(io_error),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "S3 did not answer in time")),
    }
}

/// What a failed start-up check means, in the operator's words.
pub fn explain(e: &io::Error, config: &S3Config) -> String {
    let text = e.to_string();
    let place = format!(
        "bucket {:?} at {}",
        config.bucket,
        if config.endpoint.is_empty() { "AWS S3" } else { &config.endpoint }
    );
    if text.contains("NoSuchBucket") || (e.kind() == io::ErrorKind::NotFound && text.contains("bucket")) {
        format!("{place}: the bucket does not exist (imgbed never creates one): {text}")
    } else if e.kind() == io::ErrorKind::PermissionDenied
        || ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"].iter().any(|s| text.contains(s))
    {
        format!(
            "{place}: the credentials were refused (access key {:?}; check database.s3.access_key and \
             database.s3.secret_key): {text}",
            config.access_key
        )
    } else if e.kind() == io::ErrorKind::Unsupported {
        format!("{place}: {text}")
    } else {
        format!("{place}: not reachable or not working: {text}")
    }
}
