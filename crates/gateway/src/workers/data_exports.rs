//! The data-export worker: claims queued exports (or ones whose instance
//! stopped, once their lease lapses) and runs each to its end.

use std::time::Duration;

use fansly_upstream::FanslyClient;

use crate::accounts::sessions::Sessions;
use crate::core::config::DataExportSettings;
use crate::core::db::Db;
use crate::exports::run::Runner;
use crate::exports::store;

/// A claim lasts this long past the last page written.
const LEASE_MS: i64 = 60_000;

/// What the worker uses, handed over by `startup`.
#[derive(Clone)]
pub struct Deps {
    pub db: Db,
    pub fansly: FanslyClient,
    pub sessions: Sessions,
    pub settings: DataExportSettings,
    /// This instance's name on the claims it holds.
    pub owner: String,
}

impl Deps {
    /// [`Self::run_due`] every `poll_interval_ms`.
    pub async fn run(self) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        loop {
            self.run_due().await;
            tokio::time::sleep(poll).await;
        }
    }

    /// Runs every export that is due now, one after another; how many ran.
    pub async fn run_due(&self) -> usize {
        let mut ran = 0;
        loop {
            let export = match store::claim_next(&self.db, &self.owner, LEASE_MS).await {
                Ok(Some(export)) => export,
                Ok(None) => return ran,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for data exports failed");
                    return ran;
                }
            };
            let runner = Runner {
                db: &self.db,
                fansly: &self.fansly,
                sessions: &self.sessions,
                owner: &self.owner,
                lease_ms: LEASE_MS,
                retention_ms: self.settings.retention_ms as i64,
                // Fansly answers `limit=1` with nothing; 100 is its cap.
                page_size: self.settings.page_size.clamp(2, 100),
            };
            if let Err(e) = runner.run(&export).await {
                // The lease lapses and the export runs again from the start.
                tracing::warn!(export = %export.id, error = %e, "data export interrupted");
                return ran;
            }
            ran += 1;
        }
    }

    /// Gives this instance's claims back, so another resumes them at once.
    pub async fn release(&self) {
        if let Err(e) = store::release(&self.db, &self.owner).await {
            tracing::warn!(error = %e, "releasing data export claims failed");
        }
    }
}
