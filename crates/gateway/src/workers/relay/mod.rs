//! The websocket relay: `supervisor` runs one Fansly event socket per
//! authenticated account (reconcile, reconnect, re-login), in a cluster
//! under `lease`; `mapping` (and
//! `mapping_more`, the codes added later) turns its frames into the vendor's
//! `fansly.*` events.

pub mod lease;
pub mod mapping;
pub mod mapping_more;
pub mod outcome;
pub mod supervisor;
