//! SQLite's write-ahead log copied back into the database file beside the
//! writer, not inside its commits (see `core::db::WRITER_CHECKPOINT_PAGES`
//! for why). Nothing to do on PostgreSQL.

use std::time::Duration;

use crate::core::db::{Db, WalCheckpoint};

/// What the checkpointer needs, handed over by `startup`.
#[derive(Clone)]
pub struct WalCheckpointer {
    pub db: Db,
    /// How often the log is copied back. A pass with nothing new costs one
    /// look at the log's header; under load, a tenth of a second of commits
    /// is a few hundred pages.
    pub every: Duration,
}

impl WalCheckpointer {
    /// Every [`Self::every`], [`Self::run_due`]; returns at once on PostgreSQL.
    pub async fn run(self) {
        if self.db.backend != crate::core::db::Backend::Sqlite {
            return;
        }
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.run_due().await;
        }
    }

    /// One passive checkpoint; an error is logged and the next pass retries.
    pub async fn run_due(&self) -> Option<WalCheckpoint> {
        match self.db.checkpoint_wal().await {
            Ok(done) => {
                if let Some(done) = done {
                    metrics::gauge!("fgw_sqlite_wal_frames").set(done.log_frames as f64);
                }
                done
            }
            Err(e) => {
                tracing::warn!(error = %e, "checkpointing the SQLite log failed");
                None
            }
        }
    }
}
