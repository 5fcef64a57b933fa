//! Events: the catalogue of vendor event names, the outbox they are
//! recorded in, and (in a cluster) the wake-up that tells every instance.

pub mod catalog;
pub mod keys;
pub mod marks;
pub mod outbox;
pub mod wake;
