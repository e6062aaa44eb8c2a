//! Waiting for a state instead of a guessed time.

use std::time::{Duration, Instant};

/// Polls `check` every 20 ms for at most `limit`: whether it became true.
pub async fn until(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check().await
}
