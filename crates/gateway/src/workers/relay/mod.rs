//! The websocket relay: `supervisor` runs one Fansly event socket per
//! authenticated account (reconcile, reconnect, re-login), in a cluster
//! under `lease`; `mapping` (and
//! `mapping_more`, the codes added later) turns its frames into the vendor's
//! `fansly.*` events; `writer` records them per account, in order, in
//! batches, after the gap fill of each (re)connect.

pub mod lease;
pub mod mapping;
pub mod mapping_more;
pub mod outcome;
pub mod supervisor;
pub mod writer;
