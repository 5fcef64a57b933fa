//! Gap fill: after any break in an account's websocket, and on a slow
//! sweep, what the socket missed is read from Fansly's REST API and
//! recorded with the socket's dedup keys.

pub mod chats;
pub mod fans;
pub mod fill;
pub mod listing;
pub mod money;
pub mod run;
pub mod sweep;
