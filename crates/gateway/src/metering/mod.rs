//! Metering: credits, rate limits, prices and the `_meta` block that reports them.

pub mod callers;
pub mod credit_batch;
pub mod credit_marks;
pub mod credit_runs;
pub mod credit_sql;
pub mod credits;
pub mod group_commit;
pub mod idempotency;
pub mod meta;
pub mod prices;
pub mod rate_limit;
pub mod requests;
