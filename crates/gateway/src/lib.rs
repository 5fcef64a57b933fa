//! fansly-gateway: a self-hosted, wire-compatible implementation of the
//! vendor's Fansly API.
//!
//! Layers: [`http`] speaks the vendor's wire format; [`chats`], [`users`],
//! [`accounts`], [`tenancy`] and [`metering`] hold the business rules; the
//! `fansly-upstream` crate speaks Fansly's.

pub mod accounts;
pub mod analytics;
pub mod app;
pub mod bootstrap;
pub mod broadcasts;
pub mod chats;
pub mod config;
pub mod content;
pub mod crypto;
pub mod db;
pub mod earnings;
pub mod error;
pub mod events;
pub mod fans;
pub mod fansly_answers;
pub mod http;
pub mod ids;
pub mod lists;
pub mod login;
pub mod media;
pub mod messages;
pub mod metering;
pub mod relay;
pub mod ssrf;
pub mod tenancy;
pub mod tracking;
pub mod users;
pub mod webhooks;

pub use app::{App, AppState};
pub use config::Config;
