//! Connected Fansly accounts: their rows, their live sessions (re-login,
//! throttle, proxy route), the login/2FA state machine, and waiting out an
//! account's throttle.

pub mod alerts;
pub mod device;
pub mod login;
pub mod relogin;
pub mod sessions;
pub mod store;
pub mod throttle;
