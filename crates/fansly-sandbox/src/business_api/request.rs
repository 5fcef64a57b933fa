//! What the business routes share: Fansly's query parameters as they read
//! them (paging, time windows, ids, search), the error answer they build up
//! before sending, JSON body fields, and running a write against the
//! caller's business.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::Json;
use serde_json::Value;
use time::OffsetDateTime;

use crate::business::Business;
use crate::caller::Caller;
use crate::envelope::{fail, ok};
use crate::state::AppState;
use crate::world::World;

/// A route's query parameters, as Fansly reads them: by name, as text.
pub type QueryMap = HashMap<String, String>;
pub type Params = axum::extract::Query<QueryMap>;

/// A Fansly error answer, kept small until it is sent.
pub struct Refusal {
    status: StatusCode,
    code: i64,
    details: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: i64, details: &str) -> Self {
        Refusal {
            status,
            code,
            details: details.to_owned(),
        }
    }
}

pub fn bad_param(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        99,
        &format!("invalid parameter \"{name}\""),
    )
}

/// An optional non-negative integer parameter; blank means `default`.
pub fn num(q: &QueryMap, name: &str, default: i64) -> Result<i64, Refusal> {
    match q.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad_param(name)),
    }
}

/// `limit`/`offset` as Fansly pages: limit capped at 100.
pub fn page(q: &QueryMap, default_limit: i64) -> Result<(usize, usize), Refusal> {
    let limit = num(q, "limit", default_limit)?.clamp(0, 100) as usize;
    Ok((limit, num(q, "offset", 0)? as usize))
}

/// `after`/`before` in ms; 0 or absent means unbounded.
pub fn window(q: &QueryMap) -> Result<(i64, i64), Refusal> {
    let after = num(q, "after", 0)?;
    let before = match num(q, "before", 0)? {
        0 => i64::MAX,
        b => b,
    };
    Ok((after, before))
}

pub fn id_param(q: &QueryMap, name: &str) -> Result<u64, Refusal> {
    q.get(name)
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| bad_param(name))
}

pub fn answer(r: Result<Value, Refusal>) -> Response {
    r.map_or_else(|e| fail(e.status, e.code, &e.details), ok)
}

pub fn search_matches(world: &World, account: u64, search: &str) -> bool {
    if search.is_empty() {
        return true;
    }
    world.account(account).is_some_and(|a| {
        a.username.to_lowercase().contains(search)
            || a.display_name
                .as_deref()
                .is_some_and(|d| d.to_lowercase().contains(search))
    })
}

pub fn search_of(q: &QueryMap) -> String {
    q.get("search")
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default()
}

pub fn body_str<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

pub fn body_id(body: &Value, name: &str) -> Result<u64, Refusal> {
    body_str(body, name)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad_param(name))
}

pub type Body = Result<Json<Value>, axum::extract::rejection::JsonRejection>;

/// Runs a write against the caller's business (403 for accounts without one).
pub fn with_business(
    state: &AppState,
    me: u64,
    body: Body,
    f: impl FnOnce(&mut World, &Value) -> Result<Value, Refusal>,
) -> Response {
    let Ok(Json(body)) = body else {
        return fail(StatusCode::BAD_REQUEST, 99, "invalid body");
    };
    let mut world = state.world();
    if world.business_mut(me).is_none() {
        return fail(StatusCode::FORBIDDEN, 403, "not allowed");
    }
    answer(f(&mut world, &body))
}

pub fn ms_to_date(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A read of the caller's business: their business (empty for an account
/// without one), their account id and the query; the answer or its refusal.
pub type Read = fn(&Business, u64, &QueryMap) -> Result<Value, Refusal>;

/// A GET route answering `read` for the caller, with the world locked for
/// the whole read.
pub fn business_get(read: Read) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>,
              Caller(me): Caller,
              axum::extract::Query(q): Params| async move {
            let world = state.world();
            answer(read(world.business(me.account_id), me.account_id, &q))
        },
    )
}
