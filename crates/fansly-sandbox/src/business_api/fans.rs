//! Fans: followers, who the creator follows, subscribers, subscription
//! tiers, and muting an account.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::business_api::request::{
    answer, bad_param, body_id, id_param, page, search_matches, search_of, with_business, Body,
    Params,
};
use crate::caller::Caller;
use crate::envelope::ok;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/account/{id}/followersnew", get(followers))
        .route("/api/v1/account/{id}/following", get(following))
        .route("/api/v1/subscribers", get(subscribers))
        .route("/api/v1/subscriptions/tiers", get(tiers))
        .route("/api/v1/account/ignore", post(ignore))
}

/// Followers newest first, `{followers, aggregationData.accounts}` (HUB spec);
/// `search` (username / display name) is INFERRED.
async fn followers(
    State(state): State<AppState>,
    Caller(_): Caller,
    Path(id): Path<String>,
    Query(q): Params,
) -> Response {
    answer((|| {
        let (limit, offset) = page(&q, 100)?;
        let account: u64 = id.parse().map_err(|_| bad_param("accountId"))?;
        let search = search_of(&q);
        let world = state.world();
        let rows: Vec<_> = world
            .business(account)
            .follows
            .iter()
            .rev()
            .filter(|f| search_matches(&world, f.fan, &search))
            .skip(offset)
            .take(limit)
            .collect();
        let business = world.business(account);
        let accounts: Vec<Value> = rows
            .iter()
            .filter_map(|f| world.account(f.fan))
            .map(|a| {
                let mut v = world.account_json(a);
                // The follower-list row fields of the vendor's List Followers
                // example. `followsYou` is true by construction here;
                // `userFlags` 2 for a fan with an active subscription is
                // INFERRED (the example's only sample is 2 for a follower).
                let subscribed = business
                    .subscriptions
                    .iter()
                    .any(|s| s.active && s.fan == a.id);
                v["followsYou"] = json!(true);
                v["profileAccess"] = json!(true);
                v["userFlags"] = json!(if subscribed { 2 } else { 0 });
                v
            })
            .collect();
        let followers: Vec<Value> = rows
            .iter()
            .map(|f| json!({"id": f.id.to_string(), "followerId": f.fan.to_string()}))
            .collect();
        Ok(json!({"followers": followers, "aggregationData": {"accounts": accounts}}))
    })())
}

/// A bare array of `{accountId}` (spec §5.3).
async fn following(
    State(state): State<AppState>,
    Caller(_): Caller,
    Path(id): Path<String>,
    Query(q): Params,
) -> Response {
    answer((|| {
        let (limit, offset) = page(&q, 100)?;
        let account: u64 = id.parse().map_err(|_| bad_param("accountId"))?;
        let world = state.world();
        let rows: Vec<Value> = world
            .business(account)
            .following
            .iter()
            .skip(offset)
            .take(limit)
            .map(|a| json!({"accountId": a.to_string()}))
            .collect();
        Ok(Value::Array(rows))
    })())
}

/// `status=3,4` active, `5` expired, absent = all; `stats` always count
/// everything (spec §5.4). `search` and `subscriptionTierId` are INFERRED.
async fn subscribers(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let (limit, offset) = page(&q, 100)?;
        let want: Option<Vec<i64>> = match q.get("status").map(|s| s.trim()) {
            None | Some("") => None,
            Some(s) => Some(
                s.split(',')
                    .map(|v| v.trim().parse().map_err(|_| bad_param("status")))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let tier = match q.get("subscriptionTierId").map(|s| s.trim()) {
            None | Some("") => None,
            Some(_) => Some(id_param(&q, "subscriptionTierId")?),
        };
        let search = search_of(&q);
        let world = state.world();
        let b = world.business(me.account_id);
        let active = b.subscriptions.iter().filter(|s| s.active).count();
        let mut rows: Vec<_> = b
            .subscriptions
            .iter()
            .filter(|s| {
                let status = if s.active { 3 } else { 5 };
                want.as_ref().is_none_or(|w| w.contains(&status))
            })
            .filter(|s| tier.is_none_or(|t| b.tiers[s.tier].id == t))
            .filter(|s| search_matches(&world, s.fan, &search))
            .collect();
        rows.sort_by_key(|s| std::cmp::Reverse((s.updated_ms, s.id)));
        let subscriptions: Vec<Value> = rows
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|s| b.subscription_json(s))
            .collect();
        Ok(json!({
            "stats": {
                "totalActive": active,
                "totalExpired": b.subscriptions.len() - active,
                "total": b.subscriptions.len()
            },
            "subscriptions": subscriptions
        }))
    })())
}

async fn tiers(State(state): State<AppState>, Caller(me): Caller) -> Response {
    let world = state.world();
    let b = world.business(me.account_id);
    ok((0..b.tiers.len()).map(|i| b.tier_json(i)).collect())
}

/// `POST /account/ignore {ignoredId, ignoreFlags}`: flags 0 lifts a mute,
/// anything else sets one (INFERRED meaning, OPENF bundle).
async fn ignore(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let who = body_id(body, "ignoredId")?;
        let flags = body
            .get("ignoreFlags")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad_param("ignoreFlags"))?;
        if world.account(who).is_none() {
            return Err(bad_param("ignoredId"));
        }
        let b = world.business_mut(me.account_id).expect("checked");
        if flags == 0 {
            b.muted.remove(&who);
        } else {
            b.muted.insert(who);
        }
        Ok(json!({"ignoredId": who.to_string(), "ignoreFlags": flags}))
    })
}
