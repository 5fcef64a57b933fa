//! Connected Fansly accounts: their rows, their live sessions (re-login,
//! throttle, proxy route) and the login/2FA state machine.

pub mod login;
pub mod sessions;
pub mod store;
