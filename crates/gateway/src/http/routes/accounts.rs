//! `/api/fansly/accounts`: the team's connected Fansly accounts.

use axum::extract::Path;
use axum::response::Response;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::store as accounts;
use crate::core::error::ApiError;
use crate::http::routes::declare::endpoint;
use crate::http::scope::TeamScope;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts))
        .routes(routes!(disconnect))
}

/// List Accounts: a bare JSON array (no `data`/`_meta`), free of credits, as
/// existing clients parse it.
#[utoipa::path(
    get,
    path = "/api/fansly/accounts",
    operation_id = "listAccounts",
    responses((status = 200, description = "Bare array of `{id, display_name, fansly_id, fansly_username, is_authenticated, authentication_progress, fansly_user_data, relay, upstream_drift}` (`upstream_drift`: `[{route, kind, field, count, last_seen_ms}]`, the protocol drift seen on this account's calls since the gateway started)", body = [AccountListItem])),
)]
async fn list_accounts(team: TeamScope) -> Result<Response, ApiError> {
    let state = &team.state;
    let rows = accounts::list(&state.db, team.team()).await?;
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
    Ok(team.bare(body))
}

endpoint! {
    /// Disconnect Account: logs the Fansly session out and erases the account
    /// with its credentials and tokens. Answers `{}`.
    delete "/api/fansly/accounts/{fanslyAccount}" "disconnectAccount",
    params(("fanslyAccount" = String, Path, description = "Fansly account id")),
    responses(
        (status = 200, description = "`{}`", body = Object),
    ),
    fn disconnect(team: TeamScope, Path(account): Path<String>) -> Result<Response, ApiError> {
        team.state.sessions.disconnect(team.team(), &account).await?;
        Ok(team.bare(json!({})))
    }
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
