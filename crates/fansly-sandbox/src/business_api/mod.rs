//! Fansly's fan, money and statistics routes, answered from the seeded
//! [`Business`](crate::business::Business) of the caller (or of the account
//! in the path), by resource: followers, subscribers, tiers and mutes
//! (`fans.rs`), wallets, the earnings ledger and payouts (`earnings.rs`),
//! lists (`lists.rs`), tracking links (`tracking.rs`), statistics
//! (`insights.rs`). What they share is in `request.rs`. Shapes follow spec
//! §5 and §7; where the spec marks a response INFERRED the sandbox's shape
//! is the one the gateway is written against.

pub mod earnings;
pub mod fans;
pub mod insights;
pub mod lists;
pub mod request;
pub mod tracking;
