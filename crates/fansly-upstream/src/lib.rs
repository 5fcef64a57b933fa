//! Fansly's private web API as its web app speaks it. Nothing outside this crate
//! knows a Fansly header, path or envelope.
//!
//! Tracing: every signed request to Fansly runs in an INFO span
//! (`fansly.request`; uploads and sockets in DEBUG ones, `fansly.upload`,
//! `fansly.ws.connect`) carrying the method, the route with its ids replaced
//! by `{id}`, the caller's account id and the account's Fansly id when the
//! [`Session`] knows them, so each log line written during a call names the
//! Fansly route. Tokens, passwords, cookies, bodies and the check key are
//! never recorded. Metrics (`observe.rs`): requests by route template and
//! outcome with latency, and waits for an account's request budget.

mod attach;
mod auth;
mod broadcast;
pub mod calls;
pub mod check;
pub mod checkkey;
mod client;
pub mod conformance;
mod content;
pub mod drift;
mod earnings;
mod envelope;
mod error;
mod fans;
mod headers;
pub mod ids;
mod keyguard;
mod media;
mod messaging;
mod observe;
mod route;
mod session;
pub mod template;
mod transport;
mod vault;
pub mod ws;

pub use attach::{Attachment, Audience, Gate, GatedMedia, CONTENT_ACCOUNT_MEDIA, CONTENT_BUNDLE};
pub use auth::{Challenge, EmailVerification, LoginStep, NewSession};
pub use broadcast::BroadcastAudience;
pub use client::{
    FanslyClient, FanslyConfig, GroupsQuery, DEFAULT_API_BASE, DEFAULT_CHECK_KEY,
    DEFAULT_MEDIA_BASE, DEFAULT_USER_AGENT, DEFAULT_WEB_BASE,
};
pub use content::{NewPost, NewWall};
pub use earnings::{stats_window_mismatch, Window, EARNINGS_PAGE, STATS_MAX_WINDOW_MS};
pub use envelope::FromResponse;
pub use error::UpstreamError;
pub use fans::{list_items_cursor, Page, SubscriberStatus, LIST_ITEMS_PAGE};
pub use media::{finished_media_id, UploadFile, UploadPart, UploadSession, UPLOAD_DONE};
pub use messaging::NewMessage;
pub use route::{BucketRule, Proxy, Route, SharedBudget, Throttle, ThrottleConfig, TokenBucket};
pub use session::{session_id_from_token, Session, SessionRenewer};
pub use vault::{all_album_id, ALL_ALBUM_TYPE};
