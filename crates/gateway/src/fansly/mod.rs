//! Business rules per Fansly resource, in terms of a `ConnectedAccount` and
//! the `FanslyClient`: no HTTP types except `ApiError`, no vendor envelope.

pub mod analytics;
pub mod answers;
pub mod chats;
pub mod content;
pub mod earnings;
pub mod earnings_window;
pub mod fans;
pub mod lists;
pub mod messages;
pub mod tracking;
pub mod users;
