//! The headers of a request to Fansly, as the web app sends them (spec
//! §2.1), in the order of a Firefox HAR, signed when there is a session.
//! The web app's own pages (`keyguard.rs`) get the same set.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;

use crate::check::client_check;
use crate::client::FanslyClient;
use crate::session::Session;
use crate::transport;

// Cloning a static name copies a pointer; naming a header by text parses it.
static CLIENT_ID: HeaderName = HeaderName::from_static("fansly-client-id");
static CLIENT_TS: HeaderName = HeaderName::from_static("fansly-client-ts");
static SESSION_ID: HeaderName = HeaderName::from_static("fansly-session-id");
static CLIENT_CHECK: HeaderName = HeaderName::from_static("fansly-client-check");
static SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");
static SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

impl FanslyClient {
    /// The headers of an API call in the order of the web app's (spec §2.1,
    /// from a Firefox HAR), the encodings Firefox accepts included; signed
    /// when there is a session (`pathname`: the URL's path, for the digest).
    /// Names are constants: a name given as text is parsed on every insert.
    pub(crate) fn api_headers(&self, signed: Option<(&Session, &str)>) -> HeaderMap {
        use reqwest::header::{
            ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, AUTHORIZATION, ORIGIN, REFERER, USER_AGENT,
        };
        let mut h = HeaderMap::with_capacity(16);
        // Values come from our own formatting or from Fansly; a value that is
        // not a legal header is dropped rather than sent mangled.
        let put = |h: &mut HeaderMap, name: HeaderName, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        };
        let constant = |value: &'static str| HeaderValue::from_static(value);
        h.insert(USER_AGENT, self.user_agent.clone());
        h.insert(ACCEPT, constant("application/json, text/plain, */*"));
        h.insert(ACCEPT_LANGUAGE, constant("en-US,en;q=0.9"));
        h.insert(ACCEPT_ENCODING, constant(transport::ENCODINGS));
        h.insert(REFERER, constant("https://fansly.com/"));
        if let Some((session, pathname)) = signed {
            put(&mut h, CLIENT_ID.clone(), session.device_id());
            put(&mut h, CLIENT_TS.clone(), &session.client_ts().to_string());
            if let Some(sid) = session.session_id() {
                put(&mut h, SESSION_ID.clone(), sid);
            }
            let check = client_check(&self.check_key(), pathname, session.device_id());
            put(&mut h, CLIENT_CHECK.clone(), &check);
        }
        h.insert(ORIGIN, constant("https://fansly.com"));
        h.insert(SEC_FETCH_DEST.clone(), constant("empty"));
        h.insert(SEC_FETCH_MODE.clone(), constant("cors"));
        h.insert(SEC_FETCH_SITE.clone(), constant("same-site"));
        let token = signed.map_or("", |(session, _)| session.token().expose_secret());
        if !token.is_empty() {
            if let Ok(mut v) = HeaderValue::from_str(token) {
                v.set_sensitive(true);
                h.insert(AUTHORIZATION, v);
            }
        }
        h
    }
}
