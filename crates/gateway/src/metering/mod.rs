//! Metering: credits, rate limits, prices and the `_meta` block that reports them.

pub mod credits;
pub mod idempotency;
pub mod meta;
pub mod prices;
pub mod rate_limit;
pub mod requests;
