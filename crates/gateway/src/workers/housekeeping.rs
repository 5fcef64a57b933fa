//! Periodic clean-up: dead rate-limit windows, credit reservations of calls
//! whose process died, uploads interrupted by a
//! stop, webhook deliveries and events past their retention, failed logins
//! that never connected, data exports past their expiry.

use std::time::Duration;

use crate::core::db::Db;
use crate::core::time::now_ms;
use crate::metering::rate_limit;

/// What housekeeping needs, handed over by `startup`.
#[derive(Clone)]
pub struct Housekeeping {
    pub db: Db,
    /// Uploads still "processing" after this long were cut off by a stop.
    pub stale_uploads_after: Duration,
    /// Webhook deliveries and events older than this are dropped.
    pub retention: Duration,
    /// Failed logins that never connected are deleted after this long.
    pub failed_logins_after: Duration,
    /// A credit run whose heartbeat is older than this died; what it left
    /// unsettled is refunded.
    pub runs_dead_after: Duration,
    /// This instance's own run, never taken for dead.
    pub own_run: i64,
}

impl Housekeeping {
    /// Once a minute (and at start), [`Self::run_due`].
    pub async fn run(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            self.run_due().await;
        }
    }

    /// One pass: drop dead rate-limit windows, fail and refund uploads whose
    /// gateway stopped in the middle of them, and drop webhook deliveries and
    /// events past their retention. Errors are logged; the next pass retries.
    #[tracing::instrument(name = "housekeeping", skip_all)]
    pub async fn run_due(&self) {
        if let Err(e) = rate_limit::prune(&self.db).await {
            tracing::warn!(error = %e, "pruning rate-limit windows failed");
        }
        let dead_before = now_ms() - self.runs_dead_after.as_millis() as i64;
        let settled =
            crate::metering::credit_runs::settle_orphans(&self.db, dead_before, Some(self.own_run));
        if let Err(e) = settled.await {
            tracing::warn!(error = %e, "settling orphaned credit reservations failed");
        }
        match crate::media::fail_orphaned(&self.db, self.stale_uploads_after).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(uploads = n, "failed interrupted uploads"),
            Err(e) => tracing::warn!(error = %e, "checking for interrupted uploads failed"),
        }
        if let Err(e) = crate::webhooks::deliveries::prune(&self.db, self.retention, now_ms()).await
        {
            tracing::warn!(error = %e, "pruning old webhook deliveries failed");
        }
        let cutoff = crate::core::time::now_ms() - self.failed_logins_after.as_millis() as i64;
        match crate::accounts::store::delete_failed_before(&self.db, cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(logins = n, "deleted failed logins"),
            Err(e) => tracing::warn!(error = %e, "deleting failed logins failed"),
        }
        match crate::exports::store::delete_expired(&self.db, crate::core::time::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(exports = n, "deleted expired data exports"),
            Err(e) => tracing::warn!(error = %e, "deleting expired data exports failed"),
        }
        if let Err(e) = crate::metering::idempotency::prune(&self.db).await {
            tracing::warn!(error = %e, "pruning expired idempotency keys failed");
        }
    }
}
