//! The login state machine of an account connected with a password. Every
//! step is written to the account's row before the next begins, so a
//! restart resumes where it stopped: `queued`/`logging-in` log in again,
//! `verifying` submits the stored code again, challenges wait for a code.
//!
//! ```text
//! queued ─► logging-in ─┬─► authenticated
//!                       ├─► challenge-email | challenge-authenticator
//!                       │   | challenge-verification (a new device's e-mail check)
//!                       │        │ code submitted
//!                       │        ▼
//!                       │    verifying ─┬─► authenticated
//!                       │               └─► challenge-* (wrong code, last_error set)
//!                       └─► failed (credentials refused, last_error set)
//! authenticated ─(session refused, re-login impossible)─► needs-reconnect
//! ```
//!
//! `challenge-verification` (issue 13, row 9; evidence in
//! `fansly-upstream/src/auth.rs`): Fansly wants the login confirmed from the
//! mailbox. With a code (a `correlationId` came back) the vendor's Submit 2FA
//! route takes it like a 2FA code and `verifying` sends it to
//! `/login/email/verify`; without one (only the e-mail's link confirms) no
//! code is awaited and `reauthenticate` logs in again once the owner has
//! opened the link. `last_error` tells the operator which.

use std::time::Duration;

use fansly_upstream::{EmailVerification, LoginStep, NewSession, Route, Session, UpstreamError};
use secrecy::ExposeSecret;
use sqlx::Row;

use crate::accounts::sessions::{Profile, Sessions};
use crate::accounts::store::{lifecycle, status};
use crate::core::error::ApiError;
use crate::core::time::now_ms;

const TABLE: &str = "fansly_accounts";
/// Transient failures (Fansly unreachable, rate limited) are retried this
/// often before the login is reported failed.
const ATTEMPTS: u32 = 3;
/// Marks a stored challenge token as a new device's e-mail check (its
/// `correlationId`) rather than a 2FA token; both live in `twofa_token`.
const VERIFY_PREFIX: &str = "email-verify:";

/// Stores a login to run (credentials and proxy sealed) as `queued`, for a new
/// account `id` or over an existing one; the caller then runs or spawns it.
pub async fn queue(
    sessions: &Sessions,
    team_id: &str,
    id: &str,
    login_name: &str,
    display_name: &str,
    password: &str,
    proxy: Option<&fansly_upstream::Proxy>,
) -> Result<(), ApiError> {
    let sealed_password = sessions.seal(id, "password", password)?;
    let (sealed_proxy, proxy_label) = match proxy {
        Some(p) => (
            Some(sessions.seal(id, "proxy_url", p.url().as_str())?),
            Some(p.label().to_owned()),
        ),
        None => (None, None),
    };
    sqlx::query(&format!(
        "INSERT INTO {TABLE} (id, team_id, display_name, login_name, auth_state, password, \
           proxy_url, proxy_label, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, \
           auth_state = excluded.auth_state, password = excluded.password, \
           proxy_url = excluded.proxy_url, proxy_label = excluded.proxy_label, \
           twofa_token = NULL, pending_code = NULL, last_error = NULL, updated_at = excluded.updated_at"
    ))
    .bind(id)
    .bind(team_id)
    .bind(display_name)
    .bind(login_name)
    .bind(status::QUEUED)
    .bind(sealed_password)
    .bind(sealed_proxy)
    .bind(proxy_label)
    .bind(now_ms())
    .execute(&sessions.db.writer)
    .await?;
    sessions.forget(id);
    Ok(())
}

/// Runs the account's pending step, if any, in the background.
pub fn spawn(sessions: Sessions, account_id: String) {
    tokio::spawn(async move {
        if let Err(e) = drive(&sessions, &account_id).await {
            tracing::error!(account = %account_id, error = ?e, "login step failed");
            if sessions
                .set_state(
                    &account_id,
                    status::FAILED,
                    Some("internal error during login"),
                )
                .await
                .is_ok()
            {
                sessions
                    .lifecycle(&account_id, lifecycle::AUTHENTICATION_FAILED)
                    .await;
            }
        }
    });
}

/// Resumes every login a stop interrupted.
pub async fn resume_all(sessions: &Sessions) -> Result<usize, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT id FROM {TABLE} WHERE auth_state IN ($1, $2, $3)"
    ))
    .bind(status::QUEUED)
    .bind(status::LOGGING_IN)
    .bind(status::VERIFYING)
    .fetch_all(&sessions.db.pool)
    .await?;
    for row in &rows {
        spawn(sessions.clone(), row.get(0));
    }
    Ok(rows.len())
}

/// Runs the step the row calls for, to its end.
pub async fn drive(sessions: &Sessions, account_id: &str) -> Result<(), ApiError> {
    let lock = sessions.lock_for(account_id);
    let _held = lock.lock().await;
    let Some(row) = sqlx::query(&format!(
        "SELECT auth_state, login_name, password, device_id, proxy_url, twofa_token, pending_code, \
           twofa_type, team_id FROM {TABLE} WHERE id = $1"
    ))
    .bind(account_id)
    .fetch_optional(&sessions.db.pool)
    .await?
    else {
        return Ok(()); // disconnected meanwhile
    };
    let state: String = row.get(0);
    let login_name: Option<String> = row.get(1);
    let sealed_password: Option<String> = row.get(2);
    let device: Option<String> = row.get(3);
    let sealed_proxy: Option<String> = row.get(4);
    let sealed_challenge: Option<String> = row.get(5);
    let sealed_code: Option<String> = row.get(6);
    let twofa_type: Option<i64> = row.get(7);
    let team_id: String = row.get(8);
    let route = sessions.route_for(account_id, sealed_proxy.as_deref())?;

    match state.as_str() {
        status::QUEUED | status::LOGGING_IN => {
            let (Some(login_name), Some(sealed_password)) = (login_name, sealed_password) else {
                sessions
                    .set_state(account_id, status::FAILED, Some("no stored credentials"))
                    .await?;
                sessions
                    .lifecycle(account_id, lifecycle::AUTHENTICATION_FAILED)
                    .await;
                return Ok(());
            };
            sessions
                .set_state(account_id, status::LOGGING_IN, None)
                .await?;
            let device = match device {
                Some(d) => d,
                None => match retry(|| sessions.fansly.device_id(&route)).await {
                    Ok(d) => {
                        store_device(sessions, account_id, &d).await?;
                        d
                    }
                    Err(e) => return fail(sessions, account_id, &e).await,
                },
            };
            let password = sessions.open(account_id, "password", &sealed_password)?;
            let step = retry(|| {
                sessions
                    .fansly
                    .login(&route, &device, &login_name, password.expose_secret())
            })
            .await;
            match step {
                Ok(LoginStep::Authenticated(new)) => {
                    finish(sessions, account_id, &team_id, &route, device, new).await
                }
                Ok(LoginStep::TwoFactor(ch)) => {
                    let next = if ch.kind == 0 {
                        status::CHALLENGE_AUTHENTICATOR
                    } else {
                        status::CHALLENGE_EMAIL
                    };
                    let sealed =
                        sessions.seal(account_id, "twofa_token", ch.token.expose_secret())?;
                    sqlx::query(&format!(
                        "UPDATE {TABLE} SET auth_state = $1, twofa_token = $2, twofa_type = $3, \
                           masked_email = $4, last_error = NULL, updated_at = $5 WHERE id = $6"
                    ))
                    .bind(next)
                    .bind(sealed)
                    .bind(ch.kind)
                    .bind(ch.masked_email)
                    .bind(now_ms())
                    .bind(account_id)
                    .execute(&sessions.db.writer)
                    .await?;
                    sessions
                        .lifecycle(account_id, lifecycle::OTP_CODE_REQUIRED)
                        .await;
                    Ok(())
                }
                Ok(LoginStep::EmailVerification(check)) => {
                    email_check(sessions, account_id, check).await
                }
                Err(e) => fail(sessions, account_id, &e).await,
            }
        }
        status::VERIFYING => {
            let mut challenge_state = if twofa_type == Some(0) {
                status::CHALLENGE_AUTHENTICATOR
            } else {
                status::CHALLENGE_EMAIL
            };
            let (Some(sealed_challenge), Some(sealed_code), Some(device)) =
                (sealed_challenge, sealed_code, device)
            else {
                sessions
                    .set_state(
                        account_id,
                        status::FAILED,
                        Some("the login challenge was lost; connect again"),
                    )
                    .await?;
                sessions
                    .lifecycle(account_id, lifecycle::AUTHENTICATION_FAILED)
                    .await;
                return Ok(());
            };
            let challenge = sessions.open(account_id, "twofa_token", &sealed_challenge)?;
            let code = sessions.open(account_id, "pending_code", &sealed_code)?;
            let correlation = challenge.expose_secret().strip_prefix(VERIFY_PREFIX);
            if correlation.is_some() {
                challenge_state = status::CHALLENGE_VERIFICATION;
            }
            let result = retry(|| async {
                match correlation {
                    Some(correlation) => {
                        sessions
                            .fansly
                            .login_email_verify(&route, &device, correlation, code.expose_secret())
                            .await
                    }
                    None => {
                        sessions
                            .fansly
                            .login_twofa(
                                &route,
                                &device,
                                challenge.expose_secret(),
                                code.expose_secret(),
                            )
                            .await
                    }
                }
            })
            .await;
            sqlx::query(&format!(
                "UPDATE {TABLE} SET pending_code = NULL WHERE id = $1"
            ))
            .bind(account_id)
            .execute(&sessions.db.writer)
            .await?;
            match result {
                Ok(new) => finish(sessions, account_id, &team_id, &route, device, new).await,
                // A wrong code keeps the challenge open.
                Err(UpstreamError::Rejected(details)) => {
                    let why =
                        format!("the code was not accepted ({details}); submit the right one");
                    sessions
                        .set_state(account_id, challenge_state, Some(&why))
                        .await?;
                    // INFERRED: a refused code means a code is still required.
                    sessions
                        .lifecycle(account_id, lifecycle::OTP_CODE_REQUIRED)
                        .await;
                    Ok(())
                }
                Err(e) => {
                    let why = format!("the code could not be checked: {e}; submit it again");
                    sessions
                        .set_state(account_id, challenge_state, Some(&why))
                        .await?;
                    Ok(())
                }
            }
        }
        _ => Ok(()),
    }
}

/// Fansly asks for the new-device e-mail check: wait in
/// `challenge-verification`, with the correlation id sealed where a 2FA token
/// goes and `last_error` saying what the operator does next.
async fn email_check(
    sessions: &Sessions,
    account_id: &str,
    check: EmailVerification,
) -> Result<(), ApiError> {
    let to = check
        .masked_email
        .as_deref()
        .map_or_else(|| "the account's address".to_owned(), |m| m.to_string());
    let (sealed, kind, why) = match &check.correlation_id {
        Some(correlation) => (
            Some(sessions.seal(
                account_id,
                "twofa_token",
                &format!("{VERIFY_PREFIX}{correlation}"),
            )?),
            // Fansly's "code e-mailed" type, for clients that switch on it.
            Some(2_i64),
            format!(
                "Fansly asks to confirm this login from the mailbox (a new device or address): \
                 submit the code it e-mailed to {to} with PUT /api/fansly/authenticate/{account_id}, \
                 or open the e-mail's link and then POST /api/fansly/authenticate/{account_id}/reauthenticate"
            ),
        ),
        None => (
            None,
            None,
            format!(
                "Fansly asks to confirm this login from the mailbox (a new device or address) and \
                 sent no code to enter: open the link in the e-mail Fansly sent to {to}, then \
                 POST /api/fansly/authenticate/{account_id}/reauthenticate"
            ),
        ),
    };
    sqlx::query(&format!(
        "UPDATE {TABLE} SET auth_state = $1, twofa_token = $2, twofa_type = $3, \
           masked_email = $4, last_error = $5, updated_at = $6 WHERE id = $7"
    ))
    .bind(status::CHALLENGE_VERIFICATION)
    .bind(sealed)
    .bind(kind)
    .bind(check.masked_email)
    .bind(why)
    .bind(now_ms())
    .bind(account_id)
    .execute(&sessions.db.writer)
    .await?;
    sessions
        .lifecycle(account_id, lifecycle::OTP_CODE_REQUIRED)
        .await;
    Ok(())
}

/// A session was issued: store it sealed, with the profile behind it.
async fn finish(
    sessions: &Sessions,
    account_id: &str,
    team_id: &str,
    route: &Route,
    device: String,
    new: NewSession,
) -> Result<(), ApiError> {
    let session = Session::new(new.token.clone(), device).with_route(route.clone());
    let me = match sessions.fansly.account_me(&session).await {
        Ok(me) => me,
        Err(e) => return fail(sessions, account_id, &e).await,
    };
    let profile = Profile::from_me(&me)?;
    let clash: Option<String> = sqlx::query(&format!(
        "SELECT id FROM {TABLE} WHERE team_id = $1 AND fansly_id = $2 AND id <> $3"
    ))
    .bind(team_id)
    .bind(&profile.id)
    .bind(account_id)
    .fetch_optional(&sessions.db.pool)
    .await?
    .map(|r| r.get(0));
    if let Some(other) = clash {
        let why = format!("this Fansly account is already connected as {other}");
        sessions
            .set_state(account_id, status::FAILED, Some(&why))
            .await?;
        sessions
            .lifecycle(account_id, lifecycle::AUTHENTICATION_FAILED)
            .await;
        return Ok(());
    }
    let sealed = sessions.seal(account_id, "session_token", session.token().expose_secret())?;
    // The `f-s-c` cookie the login answer set, for the websocket handshake.
    let sealed_cookie = match &new.cookie {
        Some(c) => Some(sessions.seal(account_id, "session_cookie", c.expose_secret())?),
        None => None,
    };
    sqlx::query(&format!(
        "UPDATE {TABLE} SET auth_state = $1, session_token = $2, fansly_id = $3, fansly_username = $4, \
           fansly_user_data = $5, twofa_token = NULL, pending_code = NULL, last_error = NULL, \
           updated_at = $6, session_cookie = $8 WHERE id = $7"
    ))
    .bind(status::AUTHENTICATED)
    .bind(sealed)
    .bind(&profile.id)
    .bind(&profile.username)
    .bind(profile.data.to_string())
    .bind(now_ms())
    .bind(account_id)
    .bind(sealed_cookie)
    .execute(&sessions.db.writer)
    .await?;
    sessions.forget(account_id);
    sessions.changed();
    tracing::info!(account = account_id, fansly_id = %profile.id, "Fansly account connected");
    sessions.lifecycle(account_id, lifecycle::CONNECTED).await;
    Ok(())
}

async fn store_device(
    sessions: &Sessions,
    account_id: &str,
    device: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {TABLE} SET device_id = $1, device_id_at = $2 WHERE id = $3"
    ))
    .bind(device)
    .bind(now_ms())
    .bind(account_id)
    .execute(&sessions.db.writer)
    .await?;
    Ok(())
}

async fn fail(sessions: &Sessions, account_id: &str, e: &UpstreamError) -> Result<(), ApiError> {
    let why = match e {
        UpstreamError::Rejected(details) => format!("Fansly refused the login: {details}"),
        other => other.to_string(),
    };
    sessions
        .set_state(account_id, status::FAILED, Some(&why))
        .await?;
    sessions
        .lifecycle(account_id, lifecycle::AUTHENTICATION_FAILED)
        .await;
    Ok(())
}

/// Retries transient failures ([`UpstreamError::is_transient`]) with backoff.
async fn retry<T, F, Fut>(mut call: F) -> Result<T, UpstreamError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, UpstreamError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.is_transient() && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
            }
            other => return other,
        }
    }
}
