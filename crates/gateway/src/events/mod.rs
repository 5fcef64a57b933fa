//! Events: the catalogue of vendor event names and the outbox they are
//! recorded in.

pub mod catalog;
pub mod keys;
pub mod marks;
pub mod outbox;
