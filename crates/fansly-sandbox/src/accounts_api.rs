//! Fansly's account and session routes as the sandbox serves them: a device
//! id, `account/me`, account lookup by usernames or ids, and closing a
//! session (which also refuses the sockets it opened).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use fansly_upstream::ids::is_snowflake;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::caller::Caller;
use crate::envelope::{bad_param, fail, ok};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/device/id", get(device_id))
        .route("/api/v1/account/me", get(account_me))
        .route("/api/v1/account", get(accounts_lookup))
        .route("/api/v1/session/close", post(close_session))
}

async fn device_id(State(state): State<AppState>) -> Response {
    let id = state.world().mint_id();
    ok(json!(id.to_string()))
}

async fn account_me(State(state): State<AppState>, Caller(me): Caller) -> Response {
    let world = state.world();
    match world.account(me.account_id) {
        Some(a) => ok(world.me_json(a)),
        None => fail(StatusCode::UNAUTHORIZED, 401, "invalid session"),
    }
}

#[derive(Deserialize)]
struct LookupQuery {
    usernames: Option<String>,
    ids: Option<String>,
}

/// `?usernames=` or `?ids=`: an array of the accounts found, unknown ones left out.
async fn accounts_lookup(
    State(state): State<AppState>,
    Caller(_): Caller,
    Query(q): Query<LookupQuery>,
) -> Response {
    let world = state.world();
    let found: Vec<Value> = match (q.usernames, q.ids) {
        (Some(names), _) => names
            .split(',')
            .filter_map(|n| world.account_by_username(n.trim()))
            .map(|a| world.account_json(a))
            .collect(),
        (None, Some(ids)) => {
            let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
            if ids.len() > 100 || ids.iter().any(|id| !is_snowflake(id)) {
                return bad_param("invalid parameter \"ids\"");
            }
            ids.iter()
                .filter_map(|id| world.account(id.parse().ok()?))
                .map(|a| world.account_json(a))
                .collect()
        }
        (None, None) => return bad_param("missing parameter \"usernames\""),
    };
    ok(Value::Array(found))
}

#[derive(Deserialize)]
struct CloseSession {
    id: String,
}

async fn close_session(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Result<Json<CloseSession>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(Json(b)) if b.id == me.id.to_string() => {
            let dead = state.world().close_session(me.id);
            state.hub.refuse_tokens(&dead);
            ok(json!(true))
        }
        _ => bad_param("invalid parameter \"id\""),
    }
}
