//! Waiting out an account's own throttle: for background work, which has
//! time, a throttle refusal means "later", never a failure.

use std::future::Future;
use std::time::Duration;

use fansly_upstream::UpstreamError;

/// Runs `call` until the account's throttle lets it through; any other
/// answer (success or failure) is returned as it is.
pub async fn patiently<T, F, Fut>(mut call: F) -> Result<T, UpstreamError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    loop {
        match call().await {
            Err(UpstreamError::Throttled { retry_after }) => {
                tokio::time::sleep(retry_after.max(Duration::from_millis(10))).await
            }
            other => return other,
        }
    }
}
