//! The headers of a request to Fansly, as the web app sends them (spec
//! §2.1), in the order of a Firefox HAR, signed when there is a session.
//! The web app's own pages (`keyguard.rs`) get the same set.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::check::client_check_hash;
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
        // not a legal header is dropped rather than sent mangled (the
        // session's own are checked once, when it is made).
        let put = |h: &mut HeaderMap, name: &HeaderName, value: &Option<HeaderValue>| {
            if let Some(v) = value {
                h.insert(name.clone(), v.clone());
            }
        };
        let constant = |value: &'static str| HeaderValue::from_static(value);
        h.insert(USER_AGENT, self.user_agent.clone());
        h.insert(ACCEPT, constant("application/json, text/plain, */*"));
        h.insert(ACCEPT_LANGUAGE, constant("en-US,en;q=0.9"));
        h.insert(ACCEPT_ENCODING, constant(transport::ENCODINGS));
        h.insert(REFERER, constant("https://fansly.com/"));
        if let Some((session, pathname)) = signed {
            put(&mut h, &CLIENT_ID, &session.headers.device_id);
            h.insert(CLIENT_TS.clone(), HeaderValue::from(session.client_ts()));
            put(&mut h, &SESSION_ID, &session.headers.session_id);
            let check = client_check_hash(&self.check_key_shared(), pathname, session.device_id());
            // Lower-case hex digits: always a legal header value.
            if let Ok(check) = HeaderValue::try_from(format!("{check:x}")) {
                h.insert(CLIENT_CHECK.clone(), check);
            }
        }
        h.insert(ORIGIN, constant("https://fansly.com"));
        h.insert(SEC_FETCH_DEST.clone(), constant("empty"));
        h.insert(SEC_FETCH_MODE.clone(), constant("cors"));
        h.insert(SEC_FETCH_SITE.clone(), constant("same-site"));
        if let Some((session, _)) = signed {
            put(&mut h, &AUTHORIZATION, &session.headers.token);
        }
        h
    }
}
