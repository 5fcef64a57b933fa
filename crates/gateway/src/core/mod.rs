//! The bottom layer: configuration (plain data), the database pool, ids,
//! time, sealing secrets, the SSRF guard and the one error type. Nothing here
//! imports from the rest of the crate.

pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod ids;
pub mod redis;
pub mod ssrf;
pub mod telemetry;
pub mod time;
