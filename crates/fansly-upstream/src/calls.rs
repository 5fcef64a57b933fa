//! Counting the requests sent to Fansly on behalf of one caller: a task-local
//! counter the caller scopes around its work ([`counted`]); every attempt the
//! client sends adds one. Outside such a scope nothing is counted.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static COUNTER: Arc<AtomicU32>;
}

/// Runs `work` with `counter` counting the Fansly requests it sends.
/// (A plain function, not an `async fn`: one would hold `work` twice, as
/// its argument and inside the scope it awaits.)
pub fn counted<F: Future>(counter: Arc<AtomicU32>, work: F) -> impl Future<Output = F::Output> {
    COUNTER.scope(counter, work)
}

/// The counter of the current scope, to carry into a spawned task.
pub fn current() -> Option<Arc<AtomicU32>> {
    COUNTER.try_with(Arc::clone).ok()
}

/// One request sent (no-op outside a counted scope).
pub(crate) fn count() {
    let _ = COUNTER.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
}
