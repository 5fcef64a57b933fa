//! One module per vendor resource, each exporting `router()`.

pub mod accounts;
pub mod chats;
pub mod connect;
pub mod console_api;
pub mod console_mcp;
pub mod console_sandbox;
pub mod data_exports;
mod declare;
pub mod earnings;
pub mod fans;
pub mod health;
pub mod insights;
pub mod lists;
pub mod mass_messaging;
pub mod media;
pub mod messages;
pub mod posts;
pub mod stories;
pub mod tracking_links;
pub mod users;
pub mod vault;
pub mod walls;
pub mod webhooks;
