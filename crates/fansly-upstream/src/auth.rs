//! Logging in: `POST /login` (password), `POST /login/twofa` (code) and
//! `POST /session/close`. Requests are signed like any other but carry no
//! `authorization` (spec §4).

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::client::FanslyClient;
use crate::error::UpstreamError;
use crate::route::Route;
use crate::session::Session;

/// A session Fansly just issued.
#[derive(Debug)]
pub struct NewSession {
    pub token: SecretString,
    pub session_id: String,
    pub account_id: String,
}

/// A 2FA challenge: `kind` 2 = code e-mailed (also the new-device check),
/// 0 = authenticator app (INFERRED meanings, spec §4.1).
#[derive(Debug)]
pub struct Challenge {
    pub token: SecretString,
    pub kind: i64,
    pub masked_email: Option<String>,
}

#[derive(Debug)]
pub enum LoginStep {
    Authenticated(NewSession),
    TwoFactor(Challenge),
}

impl FanslyClient {
    /// `POST /api/v1/login {username, password, deviceId}`.
    pub async fn login(
        &self,
        route: &Route,
        device_id: &str,
        username: &str,
        password: &str,
    ) -> Result<LoginStep, UpstreamError> {
        let anon = Session::anonymous(device_id.to_owned(), route.clone());
        let body = json!({"username": username, "password": password, "deviceId": device_id});
        let response = self
            .send_json(&anon, Method::POST, "/api/v1/login", &[], Some(&body))
            .await
            .map_err(as_rejection)?;
        if let Some(twofa) = response.get("twofa").filter(|t| t.is_object()) {
            let token = str_field(twofa, "token")?;
            return Ok(LoginStep::TwoFactor(Challenge {
                token: SecretString::from(token),
                kind: twofa.get("type").and_then(Value::as_i64).unwrap_or(2),
                masked_email: twofa
                    .get("email")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }));
        }
        let session = response.get("session").ok_or_else(|| {
            UpstreamError::Protocol("login answered neither session nor twofa".into())
        })?;
        Ok(LoginStep::Authenticated(new_session(session)?))
    }

    /// `POST /api/v1/login/twofa {token, code}`; the session comes back flat.
    pub async fn login_twofa(
        &self,
        route: &Route,
        device_id: &str,
        challenge_token: &str,
        code: &str,
    ) -> Result<NewSession, UpstreamError> {
        let anon = Session::anonymous(device_id.to_owned(), route.clone());
        let body = json!({"token": challenge_token, "code": code});
        let response = self
            .send_json(&anon, Method::POST, "/api/v1/login/twofa", &[], Some(&body))
            .await
            .map_err(as_rejection)?;
        new_session(&response)
    }

    /// `POST /api/v1/session/close {id}`: logs the session out at Fansly.
    pub async fn close_session(&self, session: &Session) -> Result<(), UpstreamError> {
        let id = session
            .session_id()
            .ok_or_else(|| UpstreamError::Protocol("the token carries no session id".into()))?;
        self.send_json(
            session,
            Method::POST,
            "/api/v1/session/close",
            &[],
            Some(&json!({ "id": id })),
        )
        .await
        .map(|_| ())
    }
}

/// On the login routes a client error means the credentials or the code were
/// refused (Fansly's exact codes are unknown: INFERRED, spec §13.3).
fn as_rejection(e: UpstreamError) -> UpstreamError {
    match e {
        UpstreamError::Api {
            status, details, ..
        } if (400..500).contains(&status) => UpstreamError::Rejected(if details.is_empty() {
            format!("HTTP {status}")
        } else {
            details
        }),
        UpstreamError::Unauthorized { details, .. } => UpstreamError::Rejected(details),
        other => other,
    }
}

fn new_session(v: &Value) -> Result<NewSession, UpstreamError> {
    Ok(NewSession {
        token: SecretString::from(str_field(v, "token")?),
        session_id: str_field(v, "id")?,
        account_id: str_field(v, "accountId")?,
    })
}

fn str_field(v: &Value, key: &str) -> Result<String, UpstreamError> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| UpstreamError::Protocol(format!("login answer without `{key}`")))
}
