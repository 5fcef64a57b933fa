//! Fansly's private web API as its web app speaks it. Nothing outside this crate
//! knows a Fansly header, path or envelope.

pub mod check;
mod client;
mod error;
pub mod ids;
mod media;
mod messaging;
mod session;

pub use client::{
    FanslyClient, FanslyConfig, GroupsQuery, DEFAULT_API_BASE, DEFAULT_CHECK_KEY,
    DEFAULT_MEDIA_BASE, DEFAULT_USER_AGENT,
};
pub use error::UpstreamError;
pub use media::{UploadFile, UploadPart, UploadSession, UPLOAD_DONE};
pub use messaging::NewMessage;
pub use session::{session_id_from_token, Session};
