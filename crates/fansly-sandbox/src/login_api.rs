//! Logging in: `POST /api/v1/login` and `/api/v1/login/twofa`, with both 2FA
//! kinds, the new-device e-mail check (`/api/v1/login/email/verify` with the
//! e-mailed code, `/api/v1/login/email/verification` with the link's token)
//! and login throttling (the state and its rules are in `auth.rs`),
//! and the sandbox-only steering that tests need (read e-mailed codes, list
//! or expire sessions, change a password or a 2FA setting).

use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::caller::Signed;
use crate::envelope::{fail, ok};
use crate::params::JsonBody;
use crate::state::AppState;
use crate::world::{now_ms, SessionRow, TwoFa};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/login/twofa", post(login_twofa))
        .route("/api/v1/login/email/verify", post(email_verify))
        .route("/api/v1/login/email/verification", post(email_link))
        .route("/_sandbox/emails", get(emails))
        .route("/_sandbox/sessions", get(sessions))
        .route("/_sandbox/sessions/expire", post(expire_sessions))
        .route("/_sandbox/accounts/{username}", patch(update_account))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginBody {
    username: String,
    password: String,
    device_id: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    _: Signed,
    JsonBody(body): JsonBody<LoginBody>,
) -> Response {
    if body.device_id.as_deref().is_none_or(str::is_empty) {
        return fail(
            StatusCode::BAD_REQUEST,
            99,
            "missing parameter \"deviceId\"",
        );
    }
    let mut world = state.world();
    let now = Instant::now();
    if let Err(wait) = world.auth.count_attempt(body.username.to_lowercase(), now) {
        let mut resp = fail(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            "too many login attempts",
        );
        resp.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from(wait.max(1)));
        return resp;
    }

    let Some(account) = world.account_by_login(&body.username).cloned() else {
        return fail(StatusCode::BAD_REQUEST, 1, "invalid username or password");
    };
    if account.password != body.password {
        return fail(StatusCode::BAD_REQUEST, 1, "invalid username or password");
    }
    let device = body.device_id.clone().unwrap_or_default();
    let new_device = account.twofa == TwoFa::NewDevice && !world.auth.trusts(account.id, &device);
    let kind = match account.twofa {
        _ if new_device => {
            // The answer's shape is INFERRED (no public client shows it): a
            // success without a session, carrying what `/login/email/verify`
            // takes back (`correlationId`, per the web app's route list).
            let correlation = world.mint_id().to_string();
            let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
            world.auth.open_check(
                correlation.clone(),
                account.id,
                device,
                (code, hex_of(32)),
                account.username.clone(),
                now_ms(),
            );
            return ok(json!({"emailVerification": {
                "correlationId": correlation,
                "accountId": account.id.to_string(),
                "email": mask_email(&account.email),
            }}));
        }
        TwoFa::None | TwoFa::NewDevice => {
            let session = world.open_session(account.id);
            let resp = ok(json!({
                "session": session_json(&session, now_ms()),
                "account": world.account_json(&account),
            }));
            return with_session_cookie(resp, &session);
        }
        TwoFa::Email => 2,
        TwoFa::Totp(_) => 0,
    };
    let token = hex_of(24);
    let code = (kind == 2).then(|| format!("{:06}", rand::thread_rng().gen_range(0..1_000_000)));
    world.auth.open_challenge(
        token.clone(),
        account.id,
        code,
        account.username.clone(),
        now_ms(),
    );
    let id = world.mint_id();
    ok(json!({"twofa": {
        "token": token,
        "type": kind,
        "accountId": account.id.to_string(),
        "id": id.to_string(),
        "secretId": (id + 1).to_string(),
        "email": mask_email(&account.email),
    }}))
}

#[derive(Deserialize)]
struct TwofaBody {
    token: String,
    code: String,
}

/// A wrong code keeps the challenge open, as Fansly does.
async fn login_twofa(
    State(state): State<AppState>,
    _: Signed,
    JsonBody(body): JsonBody<TwofaBody>,
) -> Response {
    let mut world = state.world();
    let invalid_token = || fail(StatusCode::BAD_REQUEST, 99, "invalid parameter \"token\"");
    let Some(account_id) = world.auth.challenge_account(&body.token) else {
        return invalid_token();
    };
    let Some(account) = world.account(account_id).cloned() else {
        return invalid_token();
    };
    let totp_secret = match &account.twofa {
        TwoFa::Totp(secret) => Some(secret.as_slice()),
        _ => None,
    };
    if !world
        .auth
        .accepts(&body.token, body.code.trim(), totp_secret)
    {
        return fail(StatusCode::BAD_REQUEST, 1, "invalid code");
    }
    world.auth.close_challenge(&body.token);
    let session = world.open_session(account_id);
    with_session_cookie(ok(session_json(&session, now_ms())), &session)
}

/// Every answer that issues a session sets its `f-s-c` cookie: base64 of
/// `<sessionId>:1:1:<hash>` (spec §2.5; the SPA sends `withCredentials` on
/// `/login` and `/login/twofa`, INFERRED for `/login/email/verify`).
fn with_session_cookie(mut resp: Response, session: &SessionRow) -> Response {
    let cookie = base64_of(&format!("{}:1:1:{}", session.id, hex_of(8)));
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!(
        "f-s-c={cookie}; Path=/; Secure; HttpOnly; SameSite=None"
    )) {
        resp.headers_mut().insert("set-cookie", v);
    }
    resp
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailVerifyBody {
    correlation_id: String,
    code: String,
}

/// The new-device check's code: answered like `/login/twofa` (the session
/// flat; INFERRED), and the device is trusted from then on. A wrong code
/// keeps the check open.
async fn email_verify(
    State(state): State<AppState>,
    _: Signed,
    JsonBody(body): JsonBody<EmailVerifyBody>,
) -> Response {
    let mut world = state.world();
    if !world.auth.check_open(&body.correlation_id) {
        return fail(
            StatusCode::BAD_REQUEST,
            99,
            "invalid parameter \"correlationId\"",
        );
    }
    let Some(account_id) = world
        .auth
        .confirm_code(&body.correlation_id, body.code.trim())
    else {
        return fail(StatusCode::BAD_REQUEST, 1, "invalid code");
    };
    let session = world.open_session(account_id);
    with_session_cookie(ok(session_json(&session, now_ms())), &session)
}

#[derive(Deserialize)]
struct EmailLinkBody {
    token: String,
}

/// The owner opened the e-mail's link (the web app posts its token): the
/// device is trusted, and the next login from it gets a session. No session
/// is issued here (INFERRED: the link confirms the device, the login runs
/// where it started).
async fn email_link(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EmailLinkBody>,
) -> Response {
    if state.world().auth.confirm_link(&body.token) {
        ok(json!(true))
    } else {
        fail(StatusCode::BAD_REQUEST, 99, "invalid parameter \"token\"")
    }
}

fn session_json(session: &SessionRow, now: i64) -> Value {
    json!({
        "id": session.id.to_string(),
        "token": session.token,
        "accountId": session.account_id.to_string(),
        "deviceId": null,
        "status": 2,
        "createdAt": now,
        "lastUsed": now,
    })
}

/// `t**@s******.invalid`: first letter of each part, as Fansly shows it.
fn mask_email(email: &str) -> String {
    let Some((user, domain)) = email.split_once('@') else {
        return "***".into();
    };
    let mask = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|first| format!("{first}{}", "*".repeat(c.count())))
            .unwrap_or_default()
    };
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    format!("{}@{}.{tld}", mask(user), mask(host))
}

fn hex_of(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random()).collect();
    hex::encode(raw)
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[derive(Deserialize)]
struct EmailsQuery {
    to: Option<String>,
}

/// Codes "e-mailed" to sandbox accounts, oldest first.
async fn emails(State(state): State<AppState>, Query(q): Query<EmailsQuery>) -> Json<Value> {
    let world = state.world();
    Json(json!(world.auth.emails(q.to.as_deref())))
}

#[derive(Deserialize)]
struct SessionsQuery {
    account_id: String,
}

/// The live session tokens of an account (tests check they are never stored in clear).
async fn sessions(State(state): State<AppState>, Query(q): Query<SessionsQuery>) -> Response {
    let Ok(id) = q.account_id.parse::<u64>() else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "account_id must be a number",
        )
            .into_response();
    };
    Json(json!(state.world().tokens_of(id))).into_response()
}

#[derive(Deserialize)]
struct ExpireBody {
    account_id: String,
}

/// Ends every session of an account, as an expiry on Fansly's side would.
async fn expire_sessions(State(state): State<AppState>, Json(body): Json<ExpireBody>) -> Response {
    let Ok(id) = body.account_id.parse::<u64>() else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "account_id must be a number",
        )
            .into_response();
    };
    // The world lock is released before the hub's is taken.
    let dead = state.world().expire_sessions_of(id);
    let refused = state.hub.refuse_tokens(&dead);
    Json(json!({ "expired": dead.len(), "sockets_refused": refused })).into_response()
}

#[derive(Deserialize)]
struct AccountUpdate {
    password: Option<String>,
    /// `none`, `email`, `totp` or `verify` (the new-device e-mail check).
    twofa: Option<String>,
}

async fn update_account(
    State(state): State<AppState>,
    Path(username): Path<String>,
    Json(update): Json<AccountUpdate>,
) -> Response {
    let mut world = state.world();
    let Some(account) = world.account_mut_by_username(&username) else {
        return (StatusCode::NOT_FOUND, "no such account").into_response();
    };
    if let Some(password) = update.password {
        account.password = password;
    }
    match update.twofa.as_deref() {
        None => {}
        Some("none") => account.twofa = TwoFa::None,
        Some("email") => account.twofa = TwoFa::Email,
        Some("totp") => {
            let secret: [u8; 20] = rand::random();
            account.twofa = TwoFa::Totp(secret.to_vec());
        }
        Some("verify") => account.twofa = TwoFa::NewDevice,
        Some(other) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("unknown twofa {other:?}"),
            )
                .into_response()
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_emails_like_fansly() {
        assert_eq!(mask_email("tester@example.com"), "t*****@e******.com");
    }
}
