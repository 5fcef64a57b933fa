//! Mass messages: stored broadcasts and their recipients, and their audience.

pub mod audience;
pub mod due;
pub mod store;
