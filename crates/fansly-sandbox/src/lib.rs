//! A protocol-faithful simulator of Fansly's private web API.
//!
//! It serves the `/api/v1` routes the gateway uses over real HTTP, checks
//! headers as Fansly does, keeps state (accounts, sessions, DM groups) and
//! mints snowflake ids with Fansly's epoch. Sandbox-only steering lives under
//! `/_sandbox` (see [`control`]).
//!
//! Layers point one way: route files (`*_api`, `control`, `fan_control`,
//! `ws::{protocol, control, events}`) use the shared state ([`state`]), the
//! request helpers (`envelope`, `params`, `caller`) and the state modules
//! (`world`, `auth`, `messaging`, `broadcast`, `business`, `content`,
//! `fan_view`, `faults`, `ws::hub`); state modules never use route files.
//! `router` assembles the routes, `server` runs them. This file only
//! declares the modules and re-exports the public API.

// Shared state and its parts.
mod auth;
mod broadcast;
mod business;
mod business_seed;
mod config;
mod content;
mod drift;
mod fan_view;
mod faults;
mod har;
mod messaging;
mod rate_limit;
mod state;
mod world;
mod world_json;

// Request helpers shared by the route files.
mod caller;
mod envelope;
mod params;

// Routes.
mod accounts_api;
mod business_api;
mod content_api;
pub mod control;
mod drift_api;
mod fan_control;
mod groups_api;
mod login_api;
mod mass_api;
mod media_api;
mod messages_api;
pub mod ws;

// Assembly.
mod router;
mod server;

pub use config::SandboxConfig;
pub use faults::{Fault, LoggedRequest};
pub use rate_limit::Limits as RateLimits;
pub use router::router;
pub use server::{serve, Sandbox};
pub use state::AppState;
pub use world::{SeededCreator, FAN_COUNT};
