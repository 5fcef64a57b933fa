//! The top layer: building the whole gateway from its configuration and
//! running it (`app.rs`), the master keys (`keys.rs`), the first-start
//! demo of `serve --sandbox` (`bootstrap.rs`), and the tracing subscriber
//! with its optional OTLP exporter (`telemetry.rs`).

pub mod app;
pub mod bootstrap;
pub mod keys;
pub mod telemetry;
