//! `/api/fansly/accounts`: the team's connected Fansly accounts.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::store as accounts;
use crate::core::error::ApiError;
use crate::http::envelope::rate_headers;
use crate::http::extract::Authed;
use crate::http::openapi::tagged;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    tagged(
        "Account",
        OpenApiRouter::new()
            .routes(routes!(list_accounts))
            .routes(routes!(disconnect)),
    )
}

/// List Accounts: a bare JSON array (no `data`/`_meta`), free of credits, as
/// existing clients parse it.
#[utoipa::path(
    get,
    path = "/api/fansly/accounts",
    operation_id = "listAccounts",
    responses((status = 200, description = "Bare array of `{id, display_name, fansly_id, fansly_username, is_authenticated, authentication_progress, fansly_user_data, relay, upstream_drift}` (`upstream_drift`: `[{route, kind, field, count, last_seen_ms}]`, the protocol drift seen on this account's calls since the gateway started)", body = [AccountListItem])),
)]
async fn list_accounts(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Response, ApiError> {
    let rows = accounts::list(&state.db, &authed.caller.team_id).await?;
    let ids: Vec<&str> = rows.iter().map(|a| a.id.as_str()).collect();
    let mut relays = state.relays.statuses(&ids).await.into_iter();
    let body: Vec<Value> = rows
        .iter()
        .map(|a| {
            let mut v = a.to_json();
            v["relay"] = relays.next().unwrap_or_default();
            // What of Fansly's protocol drifted under this account (a
            // dropped field, a route gone, a rotated check key…), so a
            // change at Fansly shows here before it shows as failures.
            v["upstream_drift"] = Value::Array(state.fansly.drift().for_account(&a.id));
            v
        })
        .collect();
    Ok((rate_headers(&authed.rate), Json(body)).into_response())
}

/// Disconnect Account: logs the Fansly session out and erases the account
/// with its credentials and tokens. Answers `{}`.
#[utoipa::path(
    delete,
    path = "/api/fansly/accounts/{fanslyAccount}",
    operation_id = "disconnectAccount",
    params(("fanslyAccount" = String, Path, description = "Fansly account id")),
    responses(
        (status = 200, description = "`{}`", body = Object),
    ),
)]
async fn disconnect(
    State(state): State<AppState>,
    authed: Authed,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    state
        .sessions
        .disconnect(&authed.caller.team_id, &account)
        .await?;
    Ok((rate_headers(&authed.rate), Json(json!({}))).into_response())
}

/// One element of List Accounts' bare array, for the OpenAPI document only
/// (the handler builds the JSON from the stored account and the relay state).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct AccountListItem {
    /// The gateway's account id (acc_…), used in `/api/fansly/{fanslyAccount}/…`.
    id: String,
    display_name: String,
    fansly_id: Option<String>,
    fansly_username: Option<String>,
    is_authenticated: bool,
    /// The connect flow's state: queued, logging-in, challenge-email,
    /// challenge-authenticator, challenge-verification (a new device's e-mail
    /// check), verifying, authenticated, failed, needs-reconnect.
    authentication_progress: String,
    /// Whether the connect flow waits for a 2FA code.
    needs_code: bool,
    last_error: Option<String>,
    /// The label of the configured proxy the account goes through, if any.
    proxy: Option<String>,
    fansly_user_data: Option<serde_json::Value>,
    /// The account's realtime socket: connected since, events, unknown frames.
    relay: serde_json::Value,
    /// Protocol drift seen on this account's Fansly calls since the gateway
    /// started: `[{route, kind, field, count, last_seen_ms}]`, newest first;
    /// kinds: missing_field, wrong_type, time_unit, gone, check_key_rejected,
    /// unknown_frame, binary_frame.
    upstream_drift: Vec<serde_json::Value>,
}
