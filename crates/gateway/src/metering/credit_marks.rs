//! What a credit committer (metering/group_commit.rs) knows of its run's
//! debits, and the run's row that reports it: the debits still open, the
//! refunds to try again, and after a failed batch the debits it may have
//! left. A settler (metering/credit_runs.rs) reads the row of a run that
//! died.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::core::db::Db;
use crate::metering::credit_batch::Line;
use crate::metering::credit_runs::refund_debit;

/// A run's row is written at most this long after what it reports changed:
/// a crash within it refunds the calls settled meanwhile (answered ones
/// included), never charges twice.
const MARK_WAIT: Duration = Duration::from_millis(100);
/// A run with nothing new to report still writes its row this often, so
/// settlers can tell it from a dead one (`credit_run_timeout_ms`, at least
/// three times longer).
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// What the committer knows of its run's debits, and reports in its row.
#[derive(Default)]
pub(crate) struct Marks {
    /// Debits handed out and not settled yet.
    pub(crate) open: BTreeSet<i64>,
    /// Refunds to try again (their debits stay in `open`).
    pub(crate) refunds: Vec<i64>,
    /// The run's highest debit.
    pub(crate) last_debit: i64,
    /// Something the row reports changed since it was written.
    pub(crate) dirty: bool,
    /// When the row was last written (or tried).
    pub(crate) beat_at: Option<tokio::time::Instant>,
    /// Set when a batch failed: it may have committed anyway (PostgreSQL's
    /// answer to a COMMIT can be lost), leaving debits the committer never
    /// heard of. Until they are looked up, the row reports nothing after
    /// this point as settled.
    pub(crate) unsure: Option<Unsure>,
}

pub(crate) struct Unsure {
    /// The last debit before the failed batch.
    pub(crate) after: i64,
    /// Debits of batches that succeeded since, and lost ones found already.
    pub(crate) known: BTreeSet<i64>,
    /// When the batch failed.
    pub(crate) since: tokio::time::Instant,
    /// When to look again (at once, then once [`LOST_GRACE`] has passed).
    pub(crate) next_look: tokio::time::Instant,
}

/// How long after a failed batch its debits may still appear: on
/// PostgreSQL a statement whose connection broke runs on (waiting for a
/// row lock, say) and commits later. The committer looks at once and again
/// after this; meanwhile its row reports nothing after the failure as
/// settled, so a crash then refunds those calls (never charges twice).
const LOST_GRACE: Duration = Duration::from_secs(10);

impl Marks {
    /// The run's last debit as its row reports it, and its open debits:
    /// every debit up to the first is settled but those in the second.
    pub(crate) fn report(&self, floor: i64) -> (i64, Vec<i64>) {
        let last = match &self.unsure {
            Some(unsure) => unsure.after,
            None => self.last_debit,
        };
        (last.max(floor), self.open.iter().copied().collect())
    }

    /// When the run's row is next due: soon after what it reports changed,
    /// else at the heartbeat. `None` before the run has a row (nothing to
    /// report).
    pub(crate) fn due(&self, line: &Line) -> Option<tokio::time::Instant> {
        line.floor()?;
        let Some(beat_at) = self.beat_at else {
            return Some(tokio::time::Instant::now());
        };
        let pending = self.dirty || !self.refunds.is_empty() || self.unsure.is_some();
        Some(beat_at + if pending { MARK_WAIT } else { HEARTBEAT })
    }
}

/// Writes the run's row (its heartbeat) first, so slow work cannot make a
/// live run look dead; then looks for debits a failed batch may have left
/// and tries again the refunds that failed (what they settle goes into the
/// next report, due within [`MARK_WAIT`]). A failure is logged; the next
/// try is due after [`MARK_WAIT`].
pub(crate) async fn beat(db: &Db, line: &mut Line, marks: &mut Marks) {
    let Some(floor) = line.floor() else {
        return;
    };
    let (last, open) = marks.report(floor);
    marks.beat_at = Some(tokio::time::Instant::now());
    match line.heartbeat(db, last, &open).await {
        Ok(()) => marks.dirty = false,
        Err(e) => tracing::warn!(error = %e, "writing the credit run's row failed"),
    }
    find_lost(db, line.run(), marks).await;
    for debit in std::mem::take(&mut marks.refunds) {
        match refund_debit(db, debit).await {
            Ok(_) => {
                marks.open.remove(&debit);
                marks.dirty = true;
            }
            Err(e) => {
                tracing::warn!(error = %e, debit, "refund failed again");
                marks.refunds.push(debit);
            }
        }
    }
}

/// After a failed batch: the run's debits written since the last one it
/// knew, but for those of batches that succeeded since, are a failed
/// batch's that committed after all. Their calls were answered with an
/// error, so they are refunded. Looked for at once and again after
/// [`LOST_GRACE`]; then the committer is sure again.
pub(crate) async fn find_lost(db: &Db, run: i64, marks: &mut Marks) {
    let Some(mut unsure) = marks.unsure.take() else {
        return;
    };
    let now = tokio::time::Instant::now();
    if now < unsure.next_look {
        marks.unsure = Some(unsure);
        return;
    }
    let written: Result<Vec<i64>, sqlx::Error> = sqlx::query_scalar(
        "SELECT id FROM credit_ledger WHERE id > $1 AND run_id = $2 AND reason = 'debit'",
    )
    .bind(unsure.after)
    .bind(run)
    .fetch_all(&db.pool)
    .await;
    let written = match written {
        Ok(written) => written,
        Err(e) => {
            tracing::warn!(error = %e, "looking for a failed credit batch's debits failed");
            marks.unsure = Some(unsure);
            return;
        }
    };
    let lost: Vec<i64> = written
        .into_iter()
        .filter(|debit| unsure.known.insert(*debit))
        .collect();
    if !lost.is_empty() {
        tracing::warn!(
            debits = lost.len(),
            "a credit batch reported as failed had committed; refunding it"
        );
    }
    for debit in lost {
        marks.open.insert(debit);
        marks.refunds.push(debit);
        marks.last_debit = marks.last_debit.max(debit);
    }
    marks.dirty = true;
    if now < unsure.since + LOST_GRACE {
        unsure.next_look = unsure.since + LOST_GRACE;
        marks.unsure = Some(unsure);
    }
}
