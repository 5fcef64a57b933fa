//! Background work: each worker is handed what it uses by `startup` (never
//! the HTTP state) and has a "run what is due now" entry point for tests.

pub mod broadcasts;
pub mod check_key;
pub mod data_exports;
pub mod gap_fill;
pub mod housekeeping;
pub mod profiles;
pub mod relay;
pub mod wal_checkpoint;
pub mod webhook_delivery;
