//! The wake-up of this instance's fan-out worker when the API stores a
//! broadcast (`workers/broadcasts.rs` waits on it beside its poll).

use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes this instance's fan-out worker when a broadcast is created or
/// changed, instead of leaving it to the worker's next look
/// (`broadcasts.poll_ms`, 500 ms by default). A wake that comes while the
/// worker is busy is kept, so none is lost. Other instances still find the
/// broadcast at their next look; the one that stored it usually claims it first.
#[derive(Clone, Default)]
pub struct Due(Arc<Notify>);

impl Due {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await;
    }
}
