//! The line a committer (metering/group_commit.rs) writes its credit
//! batches on: its connection, its run's row in `credit_runs`, and the
//! batch handed to the engine's statements (metering/credit_sql.rs).

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Connection};

use crate::core::db::{Backend, Db};
use crate::core::telemetry;
use crate::core::time::now_ms;
use crate::metering::credit_sql::{write_pg, write_sqlite, Conn};
pub use crate::metering::credit_sql::{Call, Reserved, Written, MAX_BATCH};

/// The connection a committer writes its batches on, and the committer run
/// its debits belong to.
///
/// PostgreSQL: the committer's own, taken out of the pool once (and again
/// after a batch failed, in case the connection broke), so a batch costs
/// only its statements: a pooled checkout costs a ping when it is taken and
/// another when it is given back, each a round trip to the server and a
/// wake-up on both sides. PostgreSQL lets it write beside the pool. Only a
/// connection that sat idle past [`IDLE_PING`] is pinged before use (a
/// server restarted meanwhile must not fail a batch); under load batches
/// follow each other without one.
/// SQLite: the one writer connection, checked out per batch, since
/// everything else writes through it too (and it is a thread in this
/// process, so its ping finds nothing to test).
///
/// The run: every debit names it (`credit_ledger.run_id`), and its row in
/// `credit_runs` is written before its first debit, so a process that dies
/// leaves a run whose unsettled debits can be found (group_commit.rs).
pub struct Line {
    own: Option<(AnyConnection, Instant)>,
    idle_ping: Duration,
    one_trip: u64,
    run: i64,
    /// Set once the run's row is written: the last debit it reported then
    /// (for a new run the ledger's last id: every debit up to it belongs to
    /// other runs).
    floor: Option<i64>,
}

impl Default for Line {
    fn default() -> Self {
        Line::pinging_after(IDLE_PING)
    }
}

/// How long the committer's own connection may sit unused before it is
/// pinged before the next batch.
const IDLE_PING: Duration = Duration::from_secs(1);

/// A new run's id: random, so instances need no coordination to pick one,
/// and positive, so it reads well in SQL.
pub fn new_run_id() -> i64 {
    rand::random::<i64>() & i64::MAX
}

impl Line {
    /// A line whose own connection is pinged once it sat unused for
    /// `idle` (the default: [`IDLE_PING`]), for a new run.
    pub fn pinging_after(idle: Duration) -> Line {
        Line::for_run(new_run_id(), idle)
    }

    /// A line writing the debits of `run`.
    fn for_run(run: i64, idle: Duration) -> Line {
        Line {
            own: None,
            idle_ping: idle,
            one_trip: 0,
            run,
            floor: None,
        }
    }

    /// The run this line's debits belong to.
    pub fn run(&self) -> i64 {
        self.run
    }

    /// Once the run's row is written: the last debit it reported then.
    pub fn floor(&self) -> Option<i64> {
        self.floor
    }

    /// Batches written in one trip so far (one team that could pay: one
    /// statement on PostgreSQL, one query on SQLite); the rest were decided
    /// call by call.
    pub fn one_trip_batches(&self) -> u64 {
        self.one_trip
    }

    /// The connection for the next statement: on PostgreSQL this line's own
    /// (pinged when it sat idle), on SQLite the writer.
    async fn conn<'l>(&'l mut self, db: &Db) -> Result<Conn<'l>, sqlx::Error> {
        match db.backend {
            Backend::Postgres => {
                if let Some((conn, used)) = &mut self.own {
                    if used.elapsed() >= self.idle_ping && conn.ping().await.is_err() {
                        self.own = None;
                    }
                }
                let own = match self.own.take() {
                    Some(own) => own,
                    None => (db.writer.acquire().await?.detach(), Instant::now()),
                };
                let (conn, used) = self.own.insert(own);
                *used = Instant::now();
                Ok(Conn::Own(conn))
            }
            Backend::Sqlite => Ok(Conn::Pooled(db.writer.acquire().await?)),
        }
    }

    /// After a failed statement on PostgreSQL: the own connection is not
    /// reused (dropping it closes it; the next statement takes another).
    fn failed(&mut self) {
        self.own = None;
    }

    /// Writes the run's row if it is not written yet (before its first debit).
    async fn register(&mut self, db: &Db) -> Result<(), sqlx::Error> {
        if self.floor.is_some() {
            return Ok(());
        }
        let run = self.run;
        let mut conn = self.conn(db).await?;
        // (`WHERE true`: SQLite reads `ON CONFLICT` after a bare `FROM` as a
        // join constraint.)
        let floor = sqlx::query_scalar::<_, i64>(
            "INSERT INTO credit_runs (id, last_debit, open_debits, started_at, heartbeat_at) \
             SELECT $1, COALESCE(MAX(id), 0), '[]', $2, $2 FROM credit_ledger WHERE true \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at \
             RETURNING last_debit",
        )
        .bind(run)
        .bind(now_ms())
        .fetch_one(conn.as_mut())
        .await;
        drop(conn);
        match floor {
            Ok(floor) => {
                self.floor = Some(floor);
                Ok(())
            }
            Err(e) => {
                self.failed();
                Err(e)
            }
        }
    }

    /// The run's heartbeat: it is alive, and every debit of it up to
    /// `last_debit` is settled but those in `open`. Written (again) if a
    /// settler took the run for dead and removed it.
    pub async fn heartbeat(
        &mut self,
        db: &Db,
        last_debit: i64,
        open: &[i64],
    ) -> Result<(), sqlx::Error> {
        self.register(db).await?;
        let run = self.run;
        let mut conn = self.conn(db).await?;
        let beat = sqlx::query(
            "INSERT INTO credit_runs (id, last_debit, open_debits, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (id) DO UPDATE SET last_debit = excluded.last_debit, \
             open_debits = excluded.open_debits, heartbeat_at = excluded.heartbeat_at",
        )
        .bind(run)
        .bind(last_debit)
        .bind(serde_json::to_string(open).unwrap_or_else(|_| "[]".into()))
        .bind(now_ms())
        .execute(conn.as_mut())
        .await;
        drop(conn);
        if beat.is_err() {
            self.failed();
        }
        beat.map(|_| ())
    }

    /// A clean stop with nothing unsettled: the run's row goes (nothing is
    /// left to settle). A later batch registers the run again.
    pub async fn retire(&mut self, db: &Db) -> Result<(), sqlx::Error> {
        let run = self.run;
        let mut conn = self.conn(db).await?;
        let gone = sqlx::query("DELETE FROM credit_runs WHERE id = $1")
            .bind(run)
            .execute(conn.as_mut())
            .await;
        drop(conn);
        self.floor = None;
        if gone.is_err() {
            self.failed();
        }
        gone.map(|_| ())
    }

    /// Writes a batch of reservations: on PostgreSQL a batch of one team
    /// (the usual case) is first tried as one statement ([`one_team_pg`]);
    /// everything else, and a team that cannot pay for all its calls, goes
    /// through [`write_locked`].
    pub async fn write(&mut self, db: &Db, plan: &[Call<'_>]) -> Result<Written, sqlx::Error> {
        if plan.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        self.register(db).await?;
        let run = self.run;
        let backend = db.backend;
        let mut one_trip = false;
        let mut conn = self.conn(db).await?;
        let written = match backend {
            Backend::Postgres => write_pg(conn.as_mut(), run, plan, &mut one_trip).await,
            Backend::Sqlite => write_sqlite(&mut conn, run, plan, &mut one_trip).await,
        };
        drop(conn);
        self.one_trip += u64::from(one_trip);
        let written = match written {
            Ok(written) => written,
            Err(e) => {
                self.failed();
                return Err(e);
            }
        };
        metrics::histogram!(telemetry::CREDIT_BATCH_CALLS).record(plan.len() as f64);
        // Counted per team and endpoint, not per call: a batch is usually one
        // team's calls of one or two endpoints.
        let mut spent: Vec<(&str, &'static str, u64)> = Vec::new();
        for ((team, cost, endpoint, _), outcome) in plan.iter().zip(&written.0) {
            if outcome.is_ok() {
                match spent.iter_mut().find(|s| s.0 == *team && s.1 == *endpoint) {
                    Some(s) => s.2 += *cost as u64,
                    None => spent.push((team, endpoint, *cost as u64)),
                }
            }
        }
        for (team, endpoint, cost) in spent {
            metrics::counter!(telemetry::CREDITS_SPENT, "team" => team.to_owned(), "endpoint" => endpoint)
                .increment(cost);
        }
        Ok(written)
    }
}
