//! Fansly's event websocket as the sandbox serves it (spec §10), by concern:
//! the [`hub`] (who is connected as which account, the frames sent, fan-out),
//! the wire frames (`frames.rs`), the protocol of one socket (`protocol.rs`:
//! handshake, pings, refusals), the `/_sandbox/ws/...` steering routes
//! (`control.rs`) and the `/_sandbox/events/{kind}` routes that make things
//! happen (`events.rs`, and `events_more.rs` for the kinds added later).

pub(crate) mod control;
pub(crate) mod events;
pub(crate) mod events_more;
pub(crate) mod frames;
pub mod hub;
pub(crate) mod protocol;

pub use hub::Hub;
