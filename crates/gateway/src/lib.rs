//! fansly-gateway: a self-hosted, wire-compatible implementation of the
//! vendor's Fansly API.
//!
//! The layers, lowest first; each imports only from those above it in this
//! list (ARCHITECTURE.md draws them, and `tests/layers.rs` enforces it):
//!
//! - [`core`]: config, database, ids, time, secrets, SSRF guard, the error type
//! - [`metering`], [`tenancy`]: credits, rate limits, prices; teams and keys
//! - [`events`] (catalogue, outbox) and [`webhooks`] (endpoints and deliveries)
//! - [`accounts`]: connected Fansly accounts, their sessions, the login flow
//! - [`fansly`], [`media`], [`broadcasts`], [`exports`]: business rules per resource
//! - [`workers`]: background loops (relay, webhook delivery, broadcasts, housekeeping)
//! - [`http`]: the vendor's wire format
//! - [`startup`]: building and running the whole

pub mod accounts;
pub mod broadcasts;
pub mod core;
pub mod events;
pub mod exports;
pub mod fansly;
pub mod http;
pub mod media;
pub mod metering;
pub mod startup;
pub mod tenancy;
pub mod webhooks;
pub mod workers;

pub use crate::core::config::Config;
pub use crate::http::state::AppState;
pub use crate::startup::app::App;
