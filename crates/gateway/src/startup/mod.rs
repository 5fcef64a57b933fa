//! The top layer: building the whole gateway from its configuration and
//! running it (`app.rs`), the master keys (`keys.rs`), and the first-start
//! demo of `serve --sandbox` (`bootstrap.rs`).

pub mod app;
pub mod bootstrap;
pub mod keys;
