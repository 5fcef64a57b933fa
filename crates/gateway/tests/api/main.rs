//! Integration tests: the gateway on port 0, the sandbox on port 0, real HTTP
//! between them, on the database chosen by FANSLY_GATEWAY_TEST_DATABASE_URL
//! (unset: a fresh SQLite file per test; a postgres:// URL: a fresh database
//! per test on that server).

mod accounts;
mod auth;
mod cluster;
mod cluster_kill;
mod connect;
mod console;
mod console_mcp;
mod create_chat;
mod credit_patience;
mod data_exports;
mod docs;
mod documented_shapes;
mod drift;
mod earnings;
mod event_names;
mod fans;
mod gap_fill;
mod gap_fill_sources;
mod hardening;
mod helpers;
mod hot_path;
mod idempotency;
mod insights;
mod lists;
mod mass_messaging;
mod mcp;
mod media;
mod messages;
mod metering;
mod metrics;
mod paging;
mod posts;
mod protocol;
mod refusals;
mod relay;
mod relay_kill;
mod relay_profiles;
mod secrets;
mod service;
mod stories;
mod tracking_links;
mod upkeep;
mod upstream;
mod users;
mod vault;
mod walls;
mod webhooks;
