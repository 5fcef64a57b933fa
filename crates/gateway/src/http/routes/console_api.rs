//! `/api/console/...`: the gateway's own team routes that the operator
//! console reads (not part of the vendor's API): who is signed in, the
//! team's API keys, the credit ledger and spend per day and endpoint, the
//! recent requests, the operator's team list; plus a webhook test send.
//! Free of credits; answered as `{data, _meta}` like the webhook routes.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::time::now_ms;
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::operator::{self, OPERATOR_KEY_ID};
use crate::http::params::Params;
use crate::http::routes::declare::endpoint;
use crate::http::routes::webhooks::queued;
use crate::http::scope::TeamScope;
use crate::http::state::AppState;
use crate::metering::credits;
use crate::metering::prices;
use crate::metering::requests::RequestFilter;
use crate::tenancy;
use crate::webhooks::endpoints;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_teams))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(ledger))
        .routes(routes!(usage))
        .routes(routes!(requests))
        .routes(routes!(test_webhook))
}

/// Who Am I: the team behind the key, its balance, whether the caller is
/// the operator, and whether the gateway runs with the sandbox.
#[utoipa::path(
    get,
    path = "/api/console/me",
    operation_id = "consoleMe",
    responses((status = 200, description = "`data` is `{team_id, team_name, balance, rate_limit_per_minute, key_id, operator, sandbox}`", body = Object)),
)]
async fn me(scope: TeamScope) -> Result<Metered, ApiError> {
    let (state, authed) = (&scope.state, &scope.authed);
    let team = tenancy::get_team(&state.db, scope.team())
        .await?
        .ok_or_else(|| ApiError::Unauthorized("Unauthorized: the team no longer exists".into()))?;
    let data = json!({
        "team_id": team.id,
        "team_name": team.name,
        "balance": team.credits,
        "rate_limit_per_minute": team.rate_limit_per_minute
            .unwrap_or(state.config.default_rate_limit_per_minute),
        "key_id": authed.caller.key_id,
        "operator": authed.caller.key_id == OPERATOR_KEY_ID,
        "sandbox": state.config.sandbox.enabled,
    });
    scope.free(prices::CONSOLE_ME, data).await
}

endpoint! {
    /// List Teams (operator token only): every team with its balance. Team
    /// routes then act for a team named in `X-Team-Id`.
    get "/api/console/teams" "consoleListTeams",
    responses(
        (status = 200, description = "`{data: [{id, name, credits, rate_limit_per_minute, created_at}]}`", body = Object),
        (status = 401, description = "Not the operator token"),
    ),
    fn list_teams(
        State(state): State<AppState>,
        headers: HeaderMap,
    ) -> Result<Json<Value>, ApiError> {
        let presented = crate::http::extract::bearer(&headers).unwrap_or_default();
        if !operator::is_operator(&state, presented) {
            return Err(ApiError::Unauthorized(
                "Unauthorized: listing teams takes the operator token".into(),
            ));
        }
        let teams = tenancy::list_teams(&state.db).await?;
        Ok(Json(json!({ "data": teams })))
    }
}

endpoint! {
    /// List API Keys: the team's keys (never their secrets), oldest first.
    get "/api/console/keys" "consoleListKeys",
    responses((status = 200, description = "`data` is `[{id, team_id, name, prefix, created_at, revoked_at, mcp_read_only}]`", body = Object)),
    fn list_keys(team: TeamScope) {
        let keys = tenancy::list_keys(&team.state.db, team.team()).await?;
        team.free(prices::CONSOLE_KEYS, json!(keys)).await
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// A label to recognise the key by (1–100 characters).
    #[schema(
        example = "billing bot",
        min_length = 1,
        max_length = 100,
        pattern = r"\S"
    )]
    name: String,
}

endpoint! {
    /// Create API Key: the secret is in this answer only; it is stored hashed.
    post "/api/console/keys" "consoleCreateKey",
    request_body = NewKeyBody,
    responses(
        (status = 200, description = "`data` is `{id, team_id, name, prefix, created_at, key}`", body = Object),
        (status = 422, description = "The name is empty or too long"),
    ),
    fn create_key(team: TeamScope, ApiJson(body): ApiJson<NewKeyBody>) {
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::Unprocessable(
                "name: give the key a name of 1 to 100 characters".into(),
            ));
        }
        let key = tenancy::create_key(&team.state.db, team.team(), name).await?;
        let mut data = json!(key.info);
        data["key"] = json!(key.secret);
        team.free(prices::CONSOLE_KEYS_CREATE, data).await
    }
}

endpoint! {
    /// Revoke API Key: it stops working at once (the key in use included).
    delete "/api/console/keys/{key_id}" "consoleRevokeKey",
    responses(
        (status = 200, description = "`data` is `{id, revoked: true}`", body = Object),
        (status = 404, description = "No active key of this team with that id"),
    ),
    fn revoke_key(team: TeamScope, Path(key_id): Path<String>) {
        if !tenancy::revoke_team_key(&team.state.db, team.team(), &key_id).await? {
            return Err(ApiError::NotFound(format!("no active key {key_id}")));
        }
        team.state.callers.forget_all();
        let data = json!({"id": key_id, "revoked": true});
        team.free(prices::CONSOLE_KEYS_REVOKE, data).await
    }
}

/// Credit Ledger: newest first, `limit` 1–200 (50) rows with an id below
/// `before` (the last id of the previous page).
#[utoipa::path(
    get,
    path = "/api/console/ledger",
    operation_id = "consoleLedger",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1–200, default 50"),
        ("before" = Option<i64>, Query, description = "Ledger id; rows below it"),
    ),
    responses((status = 200, description = "`data` is `{balance, entries: [{id, delta, balance_after, reason, endpoint, request_id, created_at}], next_before}`", body = Object)),
)]
async fn ledger(team: TeamScope, params: Params) -> Result<Metered, ApiError> {
    let limit = params.one_integer("limit", 50, 1, 200)?;
    let before = match params.one("before")? {
        None => None,
        Some(raw) => Some(raw.parse::<i64>().map_err(|_| {
            ApiError::Unprocessable(format!("before: expected a ledger id, got {raw:?}"))
        })?),
    };
    let db = &team.state.db;
    let rows = credits::ledger_page(db, team.team(), before, i64::from(limit)).await?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let balance = credits::balance(db, team.team()).await?.unwrap_or(0);
    let data = json!({"balance": balance, "entries": rows, "next_before": next_before});
    team.free(prices::CONSOLE_LEDGER, data).await
}

/// Usage: credits spent (net of refunds) per UTC day and per ledger
/// endpoint over the last `days` (1–90, default 14).
#[utoipa::path(
    get,
    path = "/api/console/usage",
    operation_id = "consoleUsage",
    params(("days" = Option<u32>, Query, minimum = 1, maximum = 90, description = "1–90, default 14")),
    responses((status = 200, description = "`data` is `{since, per_day: [{day, credits}], per_endpoint: [{endpoint, credits, calls}]}`; `per_day` has every day of the window", body = Object)),
)]
async fn usage(team: TeamScope, params: Params) -> Result<Metered, ApiError> {
    let days = i64::from(params.one_integer("days", 14, 1, 90)?);
    const DAY: i64 = 86_400_000;
    let today = now_ms() / DAY * DAY;
    let since = today - (days - 1) * DAY;
    let db = &team.state.db;
    let spent = credits::spent_per_day(db, team.team(), since).await?;
    let per_day: Vec<Value> = (0..days)
        .map(|i| {
            let day = since + i * DAY;
            let credits = spent.iter().find(|(d, _)| *d == day).map_or(0, |s| s.1);
            json!({"day": day, "credits": credits})
        })
        .collect();
    let per_endpoint: Vec<Value> = credits::spent_per_endpoint(db, team.team(), since)
        .await?
        .into_iter()
        .map(|(endpoint, credits, calls)| {
            json!({"endpoint": endpoint, "credits": credits, "calls": calls})
        })
        .collect();
    let data = json!({"since": since, "per_day": per_day, "per_endpoint": per_endpoint});
    team.free(prices::CONSOLE_USAGE, data).await
}

/// Recent Requests: the team's latest calls kept in memory (the newest
/// `request_log_per_team`, lost on restart), newest first. Filters:
/// `route` (substring of the route or path), `status` (`2xx`/`4xx`/`5xx` or
/// a code), `console=true` to include the console's own calls; `limit` 1–500 (100).
#[utoipa::path(
    get,
    path = "/api/console/requests",
    operation_id = "consoleRequests",
    params(
        ("route" = Option<String>, Query, description = "Substring of the route or path"),
        ("status" = Option<String>, Query, description = "2xx, 4xx, 5xx or an exact status"),
        ("console" = Option<bool>, Query, description = "Include the console's own calls"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "1–500, default 100"),
    ),
    responses((status = 200, description = "`data` is `[{at, method, route, path, status, credits, latency_ms, upstream_calls, request_id, key_id, console}]`", body = Object)),
)]
async fn requests(team: TeamScope, params: Params) -> Result<Metered, ApiError> {
    let limit = params.one_integer("limit", 100, 1, 500)?;
    // An empty `route` or `status` filters nothing, as in the console's form.
    let text = |name| -> Result<Option<String>, ApiError> {
        Ok(params
            .one(name)?
            .filter(|v| !v.is_empty())
            .map(str::to_owned))
    };
    let include_console = match params.one("console")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::Unprocessable(format!(
                "console must be true or false, got {other:?}"
            )))
        }
    };
    let filter = RequestFilter {
        route: text("route")?,
        status: text("status")?,
        include_console,
    };
    let rows = team
        .state
        .requests
        .recent(team.team(), &filter, limit as usize);
    team.free(prices::CONSOLE_REQUESTS, json!(rows)).await
}

endpoint! {
    /// Test Webhook: queues one delivery of event `webhook.test` (an example
    /// message payload, no idempotency key) to this endpoint; it appears in the
    /// delivery log with its attempts like any other. 409 when disabled.
    post "/api/webhooks/{webhook_id}/test" "testWebhook",
    tag = "Webhooks",
    responses(
        (status = 200, description = "`data` is the new delivery (pending)", body = Object),
        (status = 404, description = "Unknown webhook"),
        (status = 409, description = "The webhook is disabled"),
    ),
    fn test_webhook(team: TeamScope, Path(id): Path<String>) {
        let delivery = endpoints::test_send(&team.state.db, team.team(), &id).await?;
        let data = queued(&team.state, &id, &delivery).await?;
        team.free(prices::WEBHOOKS_TEST, data).await
    }
}
