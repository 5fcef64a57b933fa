//! One Fansly web session as the gateway holds it: the token, the device id the
//! token was issued to, the `f-s-c` cookie Fansly set with it, the web app's
//! `fansly-client-ts` clock, the account's route (proxy, budget) and who can
//! renew it when Fansly refuses it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rand::Rng;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::error::UpstreamError;
use crate::route::Route;

/// The web app refreshes its cached client timestamp about every 3 s.
const TS_REFRESH: Duration = Duration::from_secs(3);

/// Renews a session Fansly refused (by logging in again). The client calls it
/// once when a request answers 401 (not 403: a refusal of one request, not
/// of the session), then repeats the request once with
/// the session it returns.
pub trait SessionRenewer: Send + Sync {
    fn renew<'a>(
        &'a self,
        expired: &'a Session,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<Session>, UpstreamError>> + Send + 'a>>;
}

pub struct Session {
    token: SecretString,
    device_id: String,
    session_id: Option<String>,
    /// `f-s-c`, the session cookie Fansly's login answer sets (spec §2.5):
    /// the web app sends it on the websocket handshake. Filled from any
    /// answer to this session that sets it.
    cookie: Mutex<Option<SecretString>>,
    clock: ClientClock,
    route: Route,
    account: Option<String>,
    fansly_id: Option<String>,
    renewer: Option<Weak<dyn SessionRenewer>>,
    /// The header values every signed request of this session carries,
    /// made once: made per request they were four allocations a call.
    pub(crate) headers: SessionHeaders,
}

/// A session's own header values (`headers.rs` sends them); `None` where
/// the session has none or its text is not a legal header value (dropped
/// rather than sent mangled).
pub(crate) struct SessionHeaders {
    pub device_id: Option<HeaderValue>,
    pub session_id: Option<HeaderValue>,
    /// `authorization`, marked sensitive. This one copy lives as long as the
    /// session; before, every request made (and freed) one.
    pub token: Option<HeaderValue>,
}

impl SessionHeaders {
    fn new(token: &str, device_id: &str, session_id: Option<&str>) -> SessionHeaders {
        let value = |text: &str| HeaderValue::from_str(text).ok();
        SessionHeaders {
            device_id: value(device_id),
            session_id: session_id.and_then(value),
            token: (!token.is_empty())
                .then(|| value(token))
                .flatten()
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                }),
        }
    }
}

impl Session {
    pub fn new(token: SecretString, device_id: String) -> Self {
        let session_id = session_id_from_token(token.expose_secret());
        let headers = SessionHeaders::new(token.expose_secret(), &device_id, session_id.as_deref());
        Self {
            token,
            device_id,
            session_id,
            headers,
            cookie: Mutex::new(None),
            clock: ClientClock::default(),
            route: Route::default(),
            account: None,
            fansly_id: None,
            renewer: None,
        }
    }

    /// Not logged in yet: signed requests without `authorization` (login, 2FA).
    pub fn anonymous(device_id: String, route: Route) -> Self {
        Self::new(SecretString::from(String::new()), device_id).with_route(route)
    }

    pub fn with_route(mut self, route: Route) -> Self {
        self.route = route;
        self
    }

    /// Whose session this is, in the caller's terms (e.g. `fansly_acct_…`).
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// The Fansly account id behind the token, when the caller knows it;
    /// only used to label this session's traces.
    pub fn with_fansly_id(mut self, fansly_id: impl Into<String>) -> Self {
        self.fansly_id = Some(fansly_id.into());
        self
    }

    /// The `f-s-c` cookie stored with the token, when there is one.
    pub fn with_cookie(self, cookie: Option<SecretString>) -> Self {
        *self.cookie.lock().unwrap_or_else(|p| p.into_inner()) = cookie;
        self
    }

    /// The `f-s-c` cookie Fansly set for this session, if it did.
    pub fn cookie(&self) -> Option<SecretString> {
        self.cookie
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps the `f-s-c` value of a `Set-Cookie` answer header.
    pub(crate) fn remember_set_cookie(&self, header: &str) {
        if let Some(value) = fsc_of_set_cookie(header) {
            *self.cookie.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(SecretString::from(value.to_owned()));
        }
    }

    pub fn with_renewer(mut self, renewer: Weak<dyn SessionRenewer>) -> Self {
        self.renewer = Some(renewer);
        self
    }

    pub fn route(&self) -> &Route {
        &self.route
    }

    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    pub fn fansly_id(&self) -> Option<&str> {
        self.fansly_id.as_deref()
    }

    pub fn renewer(&self) -> Option<Arc<dyn SessionRenewer>> {
        self.renewer.as_ref()?.upgrade()
    }

    pub fn token(&self) -> &SecretString {
        &self.token
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// `fansly-session-id`: the first field of the base64-decoded token, when it decodes.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    pub fn client_ts(&self) -> i64 {
        self.clock.next()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("device_id", &self.device_id)
            .field("session_id", &self.session_id)
            .field("account", &self.account)
            .field("fansly_id", &self.fansly_id)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// The value of `f-s-c` in a `Set-Cookie` header (`f-s-c=<v>; Path=/; …`).
fn fsc_of_set_cookie(header: &str) -> Option<&str> {
    let pair = header.split(';').next()?.trim();
    pair.strip_prefix("f-s-c=").filter(|v| !v.is_empty())
}

/// A token is base64 of `<sessionId>:1:2:<hash>`.
pub fn session_id_from_token(token: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let id = text.split(':').next()?;
    crate::ids::is_snowflake(id).then(|| id.to_owned())
}

/// `fansly-client-ts`: now ± 5 s of jitter, cached ~3 s, never decreasing.
#[derive(Default)]
struct ClientClock {
    state: Mutex<Option<(i64, Instant)>>,
}

impl ClientClock {
    fn next(&self) -> i64 {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            Some((value, at)) if at.elapsed() < TS_REFRESH => value,
            previous => {
                let jitter = 5000 - rand::thread_rng().gen_range(0..10_000);
                let candidate = unix_ms() + jitter;
                let value = previous.map_or(candidate, |(v, _)| v.max(candidate));
                *state = Some((value, Instant::now()));
                value
            }
        }
    }
}

pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_session_id_from_token() {
        let token =
            base64::engine::general_purpose::STANDARD.encode("720167541418237953:1:2:abcdef");
        assert_eq!(
            session_id_from_token(&token).as_deref(),
            Some("720167541418237953")
        );
        assert_eq!(session_id_from_token("not base64!"), None);
    }

    #[test]
    fn keeps_the_session_cookie_of_a_set_cookie_header() {
        let s = Session::new(SecretString::from("t".to_owned()), "d".into());
        s.remember_set_cookie("other=1; Path=/");
        assert!(s.cookie().is_none());
        s.remember_set_cookie("f-s-c=YWJj; Path=/; Secure; HttpOnly; SameSite=None");
        assert_eq!(s.cookie().unwrap().expose_secret(), "YWJj");
    }

    #[test]
    fn client_ts_is_near_now_and_monotonic() {
        let clock = ClientClock::default();
        let mut last = 0;
        for _ in 0..1000 {
            let ts = clock.next();
            assert!((ts - unix_ms()).abs() <= 5_100, "jitter within ±5 s");
            assert!(ts >= last, "never decreases");
            last = ts;
        }
    }
}
