//! Keeping Fansly's check key current: read from the web app at start and
//! then on a schedule (the client also re-reads it at once when Fansly
//! refuses a digest; `fansly-upstream/src/keyguard.rs`). A rotation is
//! adopted without a restart, logged and counted there.

use std::time::Duration;

use fansly_upstream::FanslyClient;

pub struct CheckKeyWatch {
    pub fansly: FanslyClient,
    /// Zero: only at start (and on refusals).
    pub every: Duration,
}

impl CheckKeyWatch {
    pub async fn run(self) {
        // The first tick fires at once: the key is read at start.
        let mut tick = tokio::time::interval(self.every.max(Duration::from_secs(60)));
        loop {
            tick.tick().await;
            self.run_due().await;
            if self.every.is_zero() {
                return;
            }
        }
    }

    /// One read of the web app; `true` when the key rotated. A failure is
    /// logged and the key in use kept.
    #[tracing::instrument(name = "check_key.refresh", skip_all)]
    pub async fn run_due(&self) -> bool {
        match self.fansly.refresh_check_key().await {
            Ok(rotated) => rotated,
            Err(e) => {
                tracing::warn!(error = %e, "reading the check key from Fansly's web app failed; keeping the current one");
                false
            }
        }
    }
}
