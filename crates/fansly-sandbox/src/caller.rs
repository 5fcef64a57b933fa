//! Who is calling: the `Caller` extractor every authenticated `/api/v1`
//! route takes, and the client-check refusal the login routes share. The
//! rules themselves live with the state they read (the session rule in
//! `world.rs`, the client-check rule in `config.rs`); this file turns a
//! request's headers into their inputs and their refusals into Fansly's
//! answers. Also `world_post`, the route most Fansly writes are: the caller,
//! then the JSON body, then a change to the locked world.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use serde::de::DeserializeOwned;

use crate::envelope::{bad_param, fail};
use crate::params::JsonBody;
use crate::state::AppState;
use crate::world::{SessionRefusal, SessionRow, World};

/// A header's value, trimmed; `None` when absent, not text, or blank.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The caller's session, checked as Fansly checks it: token present (400 code
/// 99 otherwise), token known (401), session id header consistent (401) and,
/// in strict mode, a correct `fansly-client-check` for this path and device.
pub struct Caller(pub SessionRow);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = header(&parts.headers, "authorization") else {
            return Err(bad_param("missing parameter \"sessionToken\""));
        };
        let sid = header(&parts.headers, "fansly-session-id");
        let session = match state.world().caller_session(token, sid) {
            Ok(session) => session,
            Err(SessionRefusal::Unknown) => {
                return Err(fail(StatusCode::UNAUTHORIZED, 401, "invalid session"))
            }
            Err(SessionRefusal::Mismatch) => {
                return Err(fail(StatusCode::UNAUTHORIZED, 401, "session mismatch"))
            }
        };
        if let Some(rejection) = signature_rejection(state, &parts.headers, parts.uri.path()) {
            return Err(rejection);
        }
        Ok(Caller(session))
    }
}

/// A request signed as the web app signs it, for the routes that run before
/// there is a session (login, 2FA, the e-mail check): taken before the body,
/// so a bad signature is refused first, as [`Caller`] does for the rest.
pub struct Signed;

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match signature_rejection(state, &parts.headers, parts.uri.path()) {
            Some(rejection) => Err(rejection),
            None => Ok(Signed),
        }
    }
}

/// In strict mode, the `fansly-client-check` digest must match this path and
/// the `fansly-client-id`, and `fansly-client-ts` must be a number
/// ([`crate::config::SandboxConfig::client_check_problem`]). Returns the
/// rejection, if any.
pub fn signature_rejection(state: &AppState, headers: &HeaderMap, path: &str) -> Option<Response> {
    state
        .config
        .client_check_problem(
            &state.check_key(),
            path,
            header(headers, "fansly-client-id"),
            header(headers, "fansly-client-check"),
            header(headers, "fansly-client-ts"),
        )
        .map(bad_param)
}

/// A POST route: the caller checked first ([`Caller`]), then the JSON body
/// ([`JsonBody`]), then `write` on the world, locked for the whole write,
/// with the caller's account id; its answer.
pub fn world_post<B, W>(write: W) -> MethodRouter<AppState>
where
    B: DeserializeOwned + Send + 'static,
    W: Fn(&mut World, u64, B) -> Response + Clone + Send + Sync + 'static,
{
    post(
        move |State(state): State<AppState>, Caller(me): Caller, JsonBody(body): JsonBody<B>| {
            let write = write.clone();
            async move { write(&mut state.world(), me.account_id, body) }
        },
    )
}
