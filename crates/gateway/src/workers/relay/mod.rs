//! The websocket relay: `supervisor` runs one Fansly event socket per
//! authenticated account (reconcile, reconnect, re-login); `mapping` turns
//! its frames into the vendor's `fansly.*` events.

pub mod mapping;
pub mod supervisor;
