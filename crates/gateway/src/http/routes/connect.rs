//! `/api/fansly/authenticate…` (Connect Fansly Account): connecting an account
//! with its login, 2FA codes, re-login. Answers are bare objects, as the
//! vendor's are, and cost no credits.

use axum::extract::Path;
use axum::response::Response;
use fansly_upstream::Proxy;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::login;
use crate::accounts::store::{self as accounts, status, AccountRow};
use crate::core::error::ApiError;
use crate::core::ids::new_account_id;
use crate::core::ssrf::{self, Lookup, SystemLookup};
use crate::core::time::now_ms;
use crate::http::extract::ApiJson;
use crate::http::routes::declare::endpoint;
use crate::http::scope::TeamScope;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(poll, submit_code))
        .routes(routes!(reauthenticate))
}

#[derive(Deserialize, ToSchema)]
pub struct StartBody {
    /// Fansly username or e-mail used to sign in.
    username: String,
    password: String,
    /// Display name; defaults to the Fansly display name.
    name: Option<String>,
    /// A configured proxy country (e.g. `us`); not with `customProxy`.
    #[serde(rename = "proxyCountry")]
    proxy_country: Option<String>,
    #[serde(rename = "customProxy")]
    custom_proxy: Option<CustomProxy>,
    /// Connect even if the login is already connected.
    #[serde(default)]
    force_connect: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct CustomProxy {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

/// Start Authentication: stores the credentials sealed and logs in in the
/// background; poll `polling_url` for progress.
#[utoipa::path(
    post,
    path = "/api/fansly/authenticate",
    operation_id = "startAuthentication",
    request_body = StartBody,
    responses(
        (status = 200, description = "`{account_id, message, polling_url}`", body = Object),
        (status = 409, description = "The login is already connected (send `force_connect`)"),
        (status = 422, description = "Missing or invalid field"),
        (status = 503, description = "No master key configured to seal credentials"),
    ),
)]
async fn start(team: TeamScope, ApiJson(body): ApiJson<StartBody>) -> Result<Response, ApiError> {
    let state = &team.state;
    let login_name = body.username.trim();
    if login_name.is_empty() {
        return Err(ApiError::Unprocessable("username must not be empty".into()));
    }
    if body.password.is_empty() {
        return Err(ApiError::Unprocessable("password must not be empty".into()));
    }
    // Everything here is stored; bounds keep one free call from filling the disk.
    bounded("username", login_name, MAX_USERNAME)?;
    bounded("password", &body.password, MAX_SECRET)?;
    if let Some(name) = &body.name {
        bounded("name", name, MAX_NAME)?;
    }
    if let Some(country) = &body.proxy_country {
        bounded("proxyCountry", country, MAX_NAME)?;
    }
    if let Some(p) = &body.custom_proxy {
        bounded("customProxy.host", &p.host, MAX_HOST)?;
        bounded(
            "customProxy.username",
            p.username.as_deref().unwrap_or_default(),
            MAX_SECRET,
        )?;
        bounded(
            "customProxy.password",
            p.password.as_deref().unwrap_or_default(),
            MAX_SECRET,
        )?;
    }
    let proxy = proxy_url(
        state,
        body.proxy_country.as_deref(),
        body.custom_proxy.as_ref(),
    )
    .await?;
    let sessions = &state.sessions;
    sessions.keyring()?;
    let team_id = team.team();

    let existing = sqlx::query(
        "SELECT id, auth_state FROM fansly_accounts WHERE team_id = $1 AND lower(login_name) = lower($2)",
    )
    .bind(team_id)
    .bind(login_name)
    .fetch_optional(&state.db.pool)
    .await?;
    let id = match existing {
        Some(row) => {
            let id: String = row.get(0);
            let current: String = row.get(1);
            if !body.force_connect
                && current != status::FAILED
                && current != status::NEEDS_RECONNECT
            {
                return Err(ApiError::Conflict(format!(
                    "{login_name} is already connected as {id} (status: {current}); send \"force_connect\": true to connect it again"
                )));
            }
            id
        }
        None => {
            let unconnected = accounts::count_unconnected(&state.db, team_id).await?;
            let max = state.config.logins.max_unconnected_per_team;
            if unconnected >= max {
                return Err(ApiError::RateLimited {
                    message: format!(
                        "this team has {unconnected} logins that are not connected (pending or failed; the limit is {max}); finish or delete them (DELETE /api/fansly/accounts/{{account}}) before starting another; failed ones are also deleted after a day"
                    ),
                    retry_after_secs: 60,
                });
            }
            new_account_id()
        }
    };
    let display = body
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(login_name);
    login::queue(
        sessions,
        team_id,
        &id,
        login_name,
        display,
        &body.password,
        proxy.as_ref(),
    )
    .await?;
    login::spawn(sessions.clone(), id.clone());
    Ok(started(&team, &id))
}

fn started(team: &TeamScope, id: &str) -> Response {
    team.bare(json!({
        "account_id": id,
        "message": "Authentication process started. Query the polling_url to check the progress.",
        "polling_url": format!("{}/api/fansly/authenticate/{id}", team.state.public_url),
    }))
}

const MAX_USERNAME: usize = 254;
const MAX_SECRET: usize = 1024;
const MAX_NAME: usize = 100;
const MAX_HOST: usize = 253;

/// 422 naming `field` when `value` is longer than `max` characters.
fn bounded(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::Unprocessable(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(())
}

/// `proxyCountry` through the configured map, or `customProxy` as given; a
/// custom proxy must resolve to public addresses (the SSRF guard of webhook
/// URLs and `file_url`) unless the operator allows private ones.
async fn proxy_url(
    state: &AppState,
    country: Option<&str>,
    custom: Option<&CustomProxy>,
) -> Result<Option<Proxy>, ApiError> {
    match (country, custom) {
        (Some(_), Some(_)) => Err(ApiError::Unprocessable(
            "send either proxyCountry or customProxy, not both".into(),
        )),
        (Some(country), None) => {
            let proxies = &state.config.proxies;
            let url = proxies.get(&country.to_ascii_lowercase()).ok_or_else(|| {
                let known: Vec<&str> = proxies.keys().map(String::as_str).collect();
                ApiError::Unprocessable(if known.is_empty() {
                    format!("proxyCountry {country:?}: no proxy countries are configured")
                } else {
                    format!(
                        "proxyCountry {country:?} is not one of: {}",
                        known.join(", ")
                    )
                })
            })?;
            Proxy::parse(url)
                .map(Some)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("configured proxy {country}: {e}")))
        }
        (None, Some(p)) => {
            let allow_private = state.config.logins.allow_private_proxies;
            custom_proxy(&SystemLookup, p, allow_private)
                .await
                .map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// A client's `customProxy` as the proxy every connection of the account
/// goes through, pinned to the address its host resolved to now and passed
/// the SSRF guard: the stored URL names that address, never the host name,
/// so DNS rebinding cannot turn it into the gateway's own network later.
async fn custom_proxy(
    lookup: &dyn Lookup,
    p: &CustomProxy,
    allow_private: bool,
) -> Result<Proxy, ApiError> {
    let host = p.host.trim().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', ' ', '?', '#']) {
        return Err(ApiError::Unprocessable(format!(
            "customProxy.host {host:?} is not a host name"
        )));
    }
    if p.port == 0 {
        return Err(ApiError::Unprocessable(
            "customProxy.port must be 1-65535".into(),
        ));
    }
    let addr = ssrf::pin(lookup, host, p.port, allow_private)
        .await
        .map_err(|why| ApiError::Unprocessable(format!("customProxy.host: {why}")))?;
    // `SocketAddr` displays IPv6 in brackets, as a URL needs.
    let mut url = url::Url::parse(&format!("http://{addr}"))
        .map_err(|e| ApiError::Unprocessable(format!("customProxy: {e}")))?;
    if let Some(user) = p.username.as_deref().filter(|u| !u.is_empty()) {
        let _ = url.set_username(user);
        let _ = url.set_password(p.password.as_deref());
    }
    Proxy::parse(url.as_str()).map_err(|e| ApiError::Unprocessable(format!("customProxy: {e}")))
}

/// The progress of a connection, in the vendor's shape.
pub fn status_json(row: &AccountRow) -> Value {
    json!({
        "account_id": row.id,
        "display_name": row.display_name,
        "status": row.auth_state,
        "is_authenticated": row.auth_state == status::AUTHENTICATED,
        "needs_code": row.needs_code(),
        "twofa_type": row.twofa_type,
        "masked_email": row.masked_email,
        "last_error": row.last_error,
        "fansly_user_data": row.fansly_user_data,
    })
}

endpoint! {
    /// Poll Authentication Status.
    get "/api/fansly/authenticate/{fanslyAccount}" "pollAuthenticationStatus",
    params(("fanslyAccount" = String, Path, description = "The account id Start Authentication returned")),
    responses(
        (status = 200, description = "`{account_id, display_name, status, is_authenticated, needs_code, twofa_type, masked_email, last_error, fansly_user_data}`", body = Object),
    ),
    fn poll(team: TeamScope, Path(account): Path<String>) -> Result<Response, ApiError> {
        let row = accounts::get(&team.state.db, team.team(), &account).await?;
        Ok(team.bare(status_json(&row)))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    /// The code from the e-mail or the authenticator app.
    #[schema(example = "123456")]
    code: String,
}

/// Submit 2FA: the code is checked in the background; poll for the result
/// (a wrong code returns the account to its challenge with `last_error`).
#[utoipa::path(
    put,
    path = "/api/fansly/authenticate/{fanslyAccount}",
    operation_id = "submit2FA",
    params(("fanslyAccount" = String, Path, description = "The account id Start Authentication returned")),
    request_body = CodeBody,
    responses(
        (status = 200, description = "The status, now `verifying`", body = Object),
        (status = 409, description = "No code is awaited"),
        (status = 422, description = "The code is not 4 to 10 digits"),
    ),
)]
async fn submit_code(
    team: TeamScope,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Response, ApiError> {
    let state = &team.state;
    let code = body.code.trim();
    if !(4..=10).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Unprocessable(
            "code must be 4 to 10 digits".into(),
        ));
    }
    let row = accounts::get(&state.db, team.team(), &account).await?;
    if row.auth_state == status::CHALLENGE_VERIFICATION && !row.needs_code() {
        return Err(ApiError::Conflict(format!(
            "Fansly sent a link, not a code, to confirm account {account}'s login: open it, then POST /api/fansly/authenticate/{account}/reauthenticate"
        )));
    }
    if !matches!(
        row.auth_state.as_str(),
        status::CHALLENGE_EMAIL | status::CHALLENGE_AUTHENTICATOR | status::CHALLENGE_VERIFICATION
    ) {
        return Err(ApiError::Conflict(format!(
            "account {account} is not waiting for a code (status: {})",
            row.auth_state
        )));
    }
    let sealed = state.sessions.seal(&account, "pending_code", code)?;
    let updated = sqlx::query(
        "UPDATE fansly_accounts SET auth_state = $1, pending_code = $2, updated_at = $3 \
         WHERE id = $4 AND team_id = $5 AND auth_state = $6",
    )
    .bind(status::VERIFYING)
    .bind(sealed)
    .bind(now_ms())
    .bind(&account)
    .bind(team.team())
    .bind(&row.auth_state)
    .execute(&state.db.writer)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::Conflict(format!(
            "account {account} changed state meanwhile; poll and try again"
        )));
    }
    // Answered as `verifying` (read before the check starts, as the vendor
    // answers); the outcome is for polling.
    let row = accounts::get(&state.db, team.team(), &account).await?;
    login::spawn(state.sessions.clone(), account.clone());
    Ok(team.bare(status_json(&row)))
}

/// Re-authenticate Account: logs in again with the stored credentials.
#[utoipa::path(
    post,
    path = "/api/fansly/authenticate/{fanslyAccount}/reauthenticate",
    operation_id = "reAuthenticateAccount",
    params(("fanslyAccount" = String, Path, description = "Fansly account id")),
    responses(
        (status = 200, description = "`{account_id, message, polling_url}`", body = Object),
        (status = 409, description = "No password stored, or a login is already running"),
    ),
)]
async fn reauthenticate(
    team: TeamScope,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    let state = &team.state;
    let row = accounts::get(&state.db, team.team(), &account).await?;
    if !row.has_password {
        return Err(ApiError::Conflict(format!(
            "account {account} has no stored password; connect it with POST /api/fansly/authenticate"
        )));
    }
    if matches!(
        row.auth_state.as_str(),
        status::QUEUED | status::LOGGING_IN | status::VERIFYING
    ) {
        return Err(ApiError::Conflict(format!(
            "a login of account {account} is already running (status: {})",
            row.auth_state
        )));
    }
    state
        .sessions
        .set_state(&account, status::QUEUED, None)
        .await?;
    state.sessions.forget(&account);
    login::spawn(state.sessions.clone(), account.clone());
    Ok(started(&team, &account))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;

    /// A name that answers a public address first and a private one after.
    struct Rebinding(Mutex<Vec<&'static str>>);

    impl Lookup for Rebinding {
        fn lookup<'a>(
            &'a self,
            _host: &'a str,
            port: u16,
        ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
            let ip = self.0.lock().unwrap().remove(0);
            Box::pin(async move { Ok(vec![SocketAddr::new(ip.parse().unwrap(), port)]) })
        }
    }

    fn proxy(host: &str) -> CustomProxy {
        CustomProxy {
            host: host.into(),
            port: 3128,
            username: Some("u".into()),
            password: Some("p".into()),
        }
    }

    #[tokio::test]
    async fn a_custom_proxy_is_pinned_to_the_address_that_passed() {
        let dns = Rebinding(Mutex::new(vec!["93.184.216.34", "127.0.0.1"]));
        let p = custom_proxy(&dns, &proxy("rebind.example"), false)
            .await
            .unwrap();
        // Every connection goes to the checked address: the URL names it,
        // not the host, so the private second answer is never used.
        assert_eq!(p.url().as_str(), "http://u:p@93.184.216.34:3128/");
        assert_eq!(p.label(), "93.184.216.34:3128");
        assert_eq!(dns.0.lock().unwrap().len(), 1, "resolved once");
        let refused = custom_proxy(&dns, &proxy("rebind.example"), false).await;
        assert!(
            matches!(refused, Err(ApiError::Unprocessable(m)) if m.contains("not a public address"))
        );
    }

    #[tokio::test]
    async fn ipv6_proxies_are_pinned_in_brackets() {
        let dns = Rebinding(Mutex::new(vec!["2606:4700::6810:84e5"]));
        let p = custom_proxy(&dns, &proxy("v6.example"), false)
            .await
            .unwrap();
        assert_eq!(p.url().host_str(), Some("[2606:4700::6810:84e5]"));
    }
}
