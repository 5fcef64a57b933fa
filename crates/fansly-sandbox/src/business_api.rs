//! Fansly's fan, money and statistics routes, answered from the seeded
//! [`Business`](crate::business::Business) of the caller (or of the account in
//! the path). Shapes follow spec §5 and §7; where the spec marks a response
//! INFERRED the sandbox's shape is the one the gateway is written against.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::api::{fail, ok, Caller};
use crate::business::{Business, Transaction, DAY_MS};
use crate::world::{now_ms, World};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/account/{id}/followersnew", get(followers))
        .route("/api/v1/account/{id}/following", get(following))
        .route("/api/v1/account/{id}/wallets", get(wallets))
        .route("/api/v1/subscribers", get(subscribers))
        .route("/api/v1/subscriptions/tiers", get(tiers))
        .route("/api/v1/account/wallets/earnings", get(earnings))
        .route(
            "/api/v1/account/wallets/earnings/transactions",
            get(transactions),
        )
        .route(
            "/api/v1/account/wallets/earnings/transactions/accounts",
            get(fan_transactions),
        )
        .route("/api/v1/account/wallets/earnings/accounts", get(fan_totals))
        .route(
            "/api/v1/account/wallets/earnings/stats",
            get(earnings_stats),
        )
        .route(
            "/api/v1/account/wallets/earnings/monthlystats",
            get(monthly_stats),
        )
        .route("/api/v1/payments/payout/requests", get(payouts))
        .route("/api/v1/trackinglinks", get(tracking_links))
        .route("/api/v1/trackinglinks/stats", get(tracking_link_stats))
        .route("/api/v1/trackinglinks/update", post(update_tracking_link))
        .route("/api/v1/lists/account", get(lists))
        .route("/api/v1/lists/itemsnew", get(list_items))
        .route("/api/v1/lists", post(create_list))
        .route("/api/v1/lists/update", post(update_list))
        .route("/api/v1/lists/remove", post(remove_list))
        .route("/api/v1/lists/order", post(reorder_lists))
        .route("/api/v1/lists/commands", post(list_commands))
        .route("/api/v1/account/ignore", post(ignore))
        .route("/api/v1/it/amoie/stats", get(insights))
        .route("/api/v1/account/stats/summary", get(stats_summary))
}

type Params = Query<HashMap<String, String>>;

/// A Fansly error answer, kept small until it is sent.
struct Refusal {
    status: StatusCode,
    code: i64,
    details: String,
}

impl Refusal {
    fn new(status: StatusCode, code: i64, details: &str) -> Self {
        Refusal {
            status,
            code,
            details: details.to_owned(),
        }
    }
}

fn bad_param(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        99,
        &format!("invalid parameter \"{name}\""),
    )
}

/// An optional non-negative integer parameter; blank means `default`.
fn num(q: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, Refusal> {
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
fn page(q: &HashMap<String, String>, default_limit: i64) -> Result<(usize, usize), Refusal> {
    let limit = num(q, "limit", default_limit)?.clamp(0, 100) as usize;
    Ok((limit, num(q, "offset", 0)? as usize))
}

/// `after`/`before` in ms; 0 or absent means unbounded.
fn window(q: &HashMap<String, String>) -> Result<(i64, i64), Refusal> {
    let after = num(q, "after", 0)?;
    let before = match num(q, "before", 0)? {
        0 => i64::MAX,
        b => b,
    };
    Ok((after, before))
}

fn id_param(q: &HashMap<String, String>, name: &str) -> Result<u64, Refusal> {
    q.get(name)
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| bad_param(name))
}

fn answer(r: Result<Value, Refusal>) -> Response {
    r.map_or_else(|e| fail(e.status, e.code, &e.details), ok)
}

fn search_matches(world: &World, account: u64, search: &str) -> bool {
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

fn search_of(q: &HashMap<String, String>) -> String {
    q.get("search")
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default()
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
        let accounts: Vec<Value> = rows
            .iter()
            .filter_map(|f| world.account(f.fan))
            .map(|a| world.account_json(a))
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

async fn wallets(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Response {
    if id != me.account_id.to_string() {
        return fail(StatusCode::FORBIDDEN, 403, "not allowed");
    }
    ok(state.world().business(me.account_id).wallets_json(now_ms()))
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

/// `GET /account/wallets/earnings`: the app reads only `pendingBalance`.
async fn earnings(State(state): State<AppState>, Caller(me): Caller) -> Response {
    let world = state.world();
    let b = world.business(me.account_id);
    let now = now_ms();
    ok(json!({
        "accountId": me.account_id.to_string(),
        "pendingBalance": b.pending_balance(now),
        "availableBalance": b.available_balance(now)
    }))
}

/// The whole ledger newest first, `limit`/`offset` (default 10) with `total`.
async fn transactions(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let (limit, offset) = page(&q, 10)?;
        let world = state.world();
        let b = world.business(me.account_id);
        let now = now_ms();
        let data: Vec<Value> = b
            .transactions
            .iter()
            .rev()
            .skip(offset)
            .take(limit)
            .map(|t| b.transaction_json(t, now))
            .collect();
        Ok(json!({
            "total": b.transactions.len(),
            "data": data,
            "aggregationData": {}
        }))
    })())
}

fn in_window(
    b: &Business,
    after: i64,
    before: i64,
) -> impl DoubleEndedIterator<Item = &Transaction> {
    b.transactions
        .iter()
        .filter(move |t| t.at_ms >= after && t.at_ms <= before)
}

/// One fan's ledger rows newest first; `cursor` = the last `transactionId`
/// received, `nextCursor` set while `hasMore`.
async fn fan_transactions(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let fan = id_param(&q, "correlationAccountId")?;
        let (after, before) = window(&q)?;
        let limit = num(&q, "limit", 50)?.clamp(1, 100) as usize;
        let cursor = match q.get("cursor").map(|s| s.trim()) {
            None | Some("") | Some("0") => u64::MAX,
            Some(_) => id_param(&q, "cursor")?,
        };
        let world = state.world();
        let b = world.business(me.account_id);
        let now = now_ms();
        let mut rows = in_window(b, after, before)
            .rev()
            .filter(|t| t.fan == fan && t.id < cursor);
        let data: Vec<&Transaction> = rows.by_ref().take(limit).collect();
        let has_more = rows.next().is_some();
        let mut out = json!({
            "data": data.iter().map(|t| {
                let mut v = b.transaction_json(t, now);
                v["transactionAmount"] = json!(t.amount);
                v
            }).collect::<Vec<_>>(),
            "hasMore": has_more,
            "aggregationData": {}
        });
        if let (true, Some(last)) = (has_more, data.last()) {
            out["nextCursor"] = json!(last.id.to_string());
        }
        Ok(out)
    })())
}

/// Per-fan totals over a window, one row per paying fan (HUB): Fansly's own
/// aggregation, in no particular order.
async fn fan_totals(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let (after, before) = window(&q)?;
        let world = state.world();
        let b = world.business(me.account_id);
        let mut totals: std::collections::BTreeMap<u64, (i64, i64)> = Default::default();
        for t in in_window(b, after, before) {
            let e = totals.entry(t.fan).or_default();
            e.0 += t.amount;
            e.1 += t.net();
        }
        Ok(totals
            .into_iter()
            .map(|(fan, (gross, net))| {
                json!({
                    "totalGross": gross,
                    "totalNet": net,
                    "accountId": me.account_id.to_string(),
                    "correlationAccountId": fan.to_string()
                })
            })
            .collect())
    })())
}

/// Totals per transaction type over a window (shape INFERRED).
async fn earnings_stats(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let (after, before) = window(&q)?;
        let world = state.world();
        let b = world.business(me.account_id);
        let mut by_type: std::collections::BTreeMap<i64, (i64, i64, i64)> = Default::default();
        for t in in_window(b, after, before) {
            let e = by_type.entry(t.kind).or_default();
            e.0 += 1;
            e.1 += t.amount;
            e.2 += t.net();
        }
        let (count, gross, net) = by_type
            .values()
            .fold((0, 0, 0), |a, v| (a.0 + v.0, a.1 + v.1, a.2 + v.2));
        Ok(json!({
            "after": after,
            "before": before.min(now_ms()),
            "count": count,
            "totalGross": gross,
            "totalNet": net,
            "stats": by_type.into_iter().map(|(kind, (count, gross, net))| json!({
                "type": kind,
                "count": count,
                "totalGross": gross,
                "totalNet": net
            })).collect::<Vec<_>>()
        }))
    })())
}

/// A rolling 30-day summary (`year` and `month` 0), then one row per
/// calendar month (1-based `month`) overlapping the window, newest first.
async fn monthly_stats(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let (after, before) = window(&q)?;
        let now = now_ms();
        let before = before.min(now);
        let world = state.world();
        let b = world.business(me.account_id);
        let row = |year: i32, month: u8, from: i64, to: i64| {
            let (gross, net) =
                in_window(b, from, to).fold((0, 0), |(g, n), t| (g + t.amount, n + t.net()));
            json!({
                "year": year,
                "month": month,
                "totalGross": gross,
                "totalNet": net,
                "before": to,
                "after": from,
                "topPercent": top_percent(gross),
                "maxTopPercent": 100,
                "brackets": []
            })
        };
        let mut out = vec![row(0, 0, now - 30 * DAY_MS, now)];
        // Unbounded: back to the first month with business.
        let after = if after == 0 {
            month_floor(b.start_ms)
        } else {
            after
        };
        let mut month_start = month_floor(before);
        loop {
            let next = add_month(month_start);
            let (from, to) = (month_start.max(after), (next - 1).min(before));
            if from > to {
                break;
            }
            let d = ms_to_date(month_start);
            out.push(row(d.year(), u8::from(d.month()), from, to));
            if month_start <= after {
                break;
            }
            month_start = prev_month(d);
        }
        Ok(Value::Array(out))
    })())
}

/// Where the creator ranks among all creators by gross (a plausible stand-in).
fn top_percent(gross: i64) -> i64 {
    (60 - gross / 200_000).clamp(1, 100)
}

fn ms_to_date(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn date_ms(d: time::Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp() * 1000
}

/// The UTC midnight starting the month of `ms`.
fn month_floor(ms: i64) -> i64 {
    let d = ms_to_date(ms).date();
    d.replace_day(1).map_or(0, date_ms)
}

fn add_month(month_start: i64) -> i64 {
    let d = ms_to_date(month_start).date();
    let (y, m) = (d.year(), d.month());
    let (y, m) = if m == time::Month::December {
        (y + 1, time::Month::January)
    } else {
        (y, m.next())
    };
    time::Date::from_calendar_date(y, m, 1).map_or(i64::MAX, date_ms)
}

fn prev_month(d: OffsetDateTime) -> i64 {
    let (y, m) = (d.year(), d.month());
    let (y, m) = if m == time::Month::January {
        (y - 1, time::Month::December)
    } else {
        (y, m.previous())
    };
    time::Date::from_calendar_date(y, m, 1).map_or(0, date_ms)
}

/// Payout history newest first, `limit`/`offset` (default 10) with `total`.
async fn payouts(State(state): State<AppState>, Caller(me): Caller, Query(q): Params) -> Response {
    answer((|| {
        let (limit, offset) = page(&q, 10)?;
        let (after, before) = window(&q)?;
        let world = state.world();
        let b = world.business(me.account_id);
        let rows: Vec<_> = b
            .payouts
            .iter()
            .rev()
            .filter(|p| p.at_ms >= after && p.at_ms <= before)
            .collect();
        Ok(json!({
            "total": rows.len(),
            "data": rows.iter().skip(offset).take(limit).map(|p| b.payout_json(p)).collect::<Vec<_>>()
        }))
    })())
}

/// A bare array, built-in links first (spec §7).
async fn tracking_links(State(state): State<AppState>, Caller(me): Caller) -> Response {
    let world = state.world();
    let b = world.business(me.account_id);
    ok(b.links.iter().map(|l| b.link_json(l)).collect())
}

/// Day rows of one link inside the window (keys as the vendor's example).
async fn tracking_link_stats(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let id = id_param(&q, "trackingLinkId")?;
        let (after, before) = window(&q)?;
        let world = state.world();
        let b = world.business(me.account_id);
        let Some(link) = b.links.iter().find(|l| l.id == id) else {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                404,
                "tracking link not found",
            ));
        };
        let rows: Vec<Value> = link
            .days
            .iter()
            .enumerate()
            .map(|(i, d)| (b.start_ms + i as i64 * DAY_MS, d))
            .filter(|(day, _)| *day + DAY_MS > after && *day <= before)
            .map(|(day, d)| {
                let date = ms_to_date(day);
                json!({
                    "trackingLinkId": id.to_string(),
                    "timestamp": day,
                    "clicks": d.clicks,
                    "claims": d.claims,
                    "follows": d.follows,
                    "subscriptions": d.subscriptions,
                    "year": date.year(),
                    "month": u8::from(date.month()),
                    "date": date.day()
                })
            })
            .collect();
        Ok(Value::Array(rows))
    })())
}

/// The creator's own lists (built-ins such as Muted are client-side).
async fn lists(State(state): State<AppState>, Caller(me): Caller) -> Response {
    let world = state.world();
    let b = world.business(me.account_id);
    ok((0..b.lists.len()).map(|i| b.list_json(i)).collect())
}

/// `[{id, sortId, listId, type, metadata}]`, item id = member account id;
/// `limit`/`offset` paging is INFERRED.
async fn list_items(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let list_id = id_param(&q, "listId")?;
        let (limit, offset) = page(&q, 100)?;
        let world = state.world();
        let b = world.business(me.account_id);
        let Some(list) = b.lists.iter().find(|l| l.id == list_id) else {
            return Err(list_not_found());
        };
        Ok(list
            .items
            .iter()
            .enumerate()
            .skip(offset)
            .take(limit)
            .map(|(i, item)| {
                json!({
                    "id": item.to_string(),
                    "sortId": (i + 1).to_string(),
                    "listId": list_id.to_string(),
                    "type": 0,
                    "metadata": ""
                })
            })
            .collect())
    })())
}

fn list_not_found() -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, 404, "list not found")
}

fn body_str<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

fn body_id(body: &Value, name: &str) -> Result<u64, Refusal> {
    body_str(body, name)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad_param(name))
}

type Body = Result<Json<Value>, axum::extract::rejection::JsonRejection>;

/// Runs a write against the caller's business (403 for accounts without one).
fn with_business(
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

/// `POST /lists {label, description}` → the new list row.
async fn create_list(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let label = body_str(body, "label")
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad_param("label"))?
            .to_owned();
        let description = body_str(body, "description").unwrap_or("").to_owned();
        let id = world.mint_id();
        let b = world.business_mut(me.account_id).expect("checked");
        b.lists.push(crate::business::FanList {
            id,
            label,
            description,
            created_ms: now_ms(),
            items: Vec::new(),
        });
        Ok(b.list_json(b.lists.len() - 1))
    })
}

/// `POST /lists/update {id, label, description?}` (INFERRED route).
async fn update_list(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let id = body_id(body, "id")?;
        let b = world.business_mut(me.account_id).expect("checked");
        let pos = b
            .lists
            .iter()
            .position(|l| l.id == id)
            .ok_or_else(list_not_found)?;
        if let Some(label) = body_str(body, "label") {
            let label = label.trim();
            if label.is_empty() {
                return Err(bad_param("label"));
            }
            b.lists[pos].label = label.to_owned();
        }
        if let Some(description) = body_str(body, "description") {
            b.lists[pos].description = description.to_owned();
        }
        Ok(b.list_json(pos))
    })
}

/// `POST /lists/remove {listId}` (INFERRED, OPENF bundle).
async fn remove_list(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let id = body_id(body, "listId")?;
        let b = world.business_mut(me.account_id).expect("checked");
        let pos = b
            .lists
            .iter()
            .position(|l| l.id == id)
            .ok_or_else(list_not_found)?;
        b.lists.remove(pos);
        Ok(json!(true))
    })
}

/// `POST /lists/order {oldPos, newPos}` (INFERRED, OPENF bundle).
async fn reorder_lists(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let b = world.business_mut(me.account_id).expect("checked");
        let pos = |name| {
            body.get(name)
                .and_then(Value::as_u64)
                .map(|p| p as usize)
                .filter(|p| *p < b.lists.len())
                .ok_or_else(|| bad_param(name))
        };
        let (old, new) = (pos("oldPos")?, pos("newPos")?);
        let list = b.lists.remove(old);
        b.lists.insert(new, list);
        Ok(json!(true))
    })
}

/// `POST /lists/commands`: type 1 adds `listItem.id` to `listItem.listId`,
/// type 2 removes `itemIds` from `listId` (spec §5.7). Unknown accounts are
/// refused; adding a member twice keeps one.
async fn list_commands(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let commands = body
            .get("listCommands")
            .and_then(Value::as_array)
            .ok_or_else(|| bad_param("listCommands"))?
            .clone();
        for c in &commands {
            match c.get("type").and_then(Value::as_i64) {
                Some(1) => {
                    let item = c.get("listItem").cloned().unwrap_or(Value::Null);
                    let (list_id, member) = (body_id(&item, "listId")?, body_id(&item, "id")?);
                    if world.account(member).is_none() {
                        return Err(bad_param("listItem.id"));
                    }
                    let b = world.business_mut(me.account_id).expect("checked");
                    let list = b
                        .lists
                        .iter_mut()
                        .find(|l| l.id == list_id)
                        .ok_or_else(list_not_found)?;
                    if !list.items.contains(&member) {
                        list.items.push(member);
                    }
                }
                Some(2) => {
                    let list_id = body_id(c, "listId")?;
                    let ids: Vec<u64> = c
                        .get("itemIds")
                        .and_then(Value::as_array)
                        .ok_or_else(|| bad_param("itemIds"))?
                        .iter()
                        .map(|v| v.as_str().and_then(|s| s.parse().ok()))
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad_param("itemIds"))?;
                    let b = world.business_mut(me.account_id).expect("checked");
                    let list = b
                        .lists
                        .iter_mut()
                        .find(|l| l.id == list_id)
                        .ok_or_else(list_not_found)?;
                    list.items.retain(|i| !ids.contains(i));
                }
                _ => return Err(bad_param("type")),
            }
        }
        Ok(json!(true))
    })
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

/// Legacy account statistics: `period`-sized buckets (ms) between
/// `afterDate` and `beforeDate`, at most 100, each with a row per content
/// type (0 and 1). Viewer numbers are a deterministic function of the
/// creator, bucket and type, scaled by the bucket length.
async fn insights(State(state): State<AppState>, Caller(me): Caller, Query(q): Params) -> Response {
    answer((|| {
        const LIMIT: i64 = 100;
        let period = num(&q, "period", DAY_MS)?;
        if period < 60_000 {
            return Err(bad_param("period"));
        }
        let before = num(&q, "beforeDate", 0)?;
        let after = num(&q, "afterDate", 0)?;
        if before <= after {
            return Err(bad_param("beforeDate"));
        }
        let creator = state.world().business(me.account_id).creator;
        let first = (before - period * LIMIT).max(after);
        let datapoints: Vec<Value> = (0..LIMIT)
            .map(|i| before - period * (i + 1))
            .take_while(|ts| *ts >= first)
            .map(|ts| {
                let stats = [0, 1].map(|kind| bucket_stats(creator, ts, period, kind));
                json!({"timestamp": ts, "stats": stats})
            })
            .collect();
        Ok(json!({"dataset": {
            "period": period,
            "dateBefore": before,
            "dateAfter": after,
            "datapointLimit": LIMIT,
            "datapoints": datapoints
        }}))
    })())
}

fn bucket_stats(creator: u64, ts: i64, period: i64, kind: u64) -> Value {
    // splitmix64: a fixed, well-mixed hash, so the same bucket always answers the same.
    let mut h = creator ^ (ts as u64).rotate_left(17) ^ kind.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    let minutes = (period / 60_000) as u64;
    let views = minutes * (20 + h % 80) / 100;
    let unique = views * (40 + (h >> 8) % 30) / 100;
    let video_views = views * (50 + (h >> 16) % 40) / 100;
    let preview = if kind == 1 { views / 50 } else { 0 };
    json!({
        "type": kind,
        "views": views,
        "previewViews": preview,
        "interactionTime": views * (2_000 + (h >> 24) % 5_000),
        "previewInteractionTime": preview * 700,
        "uniqueViewers": unique,
        "previewUniqueViewers": preview / 2,
        "videoViews": video_views,
        "totalVideoPercentWatched": (video_views as f64 * 0.2731 * 100.0).round() / 100.0,
        "previewVideoViews": 0,
        "previewTotalVideoPercentWatched": 0
    })
}

/// `POST /trackinglinks/update {id, label?, description?}` → the link. No
/// source shows how the app edits a link; this route is INFERRED.
async fn update_tracking_link(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Body,
) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let id = body_id(body, "id")?;
        let b = world.business_mut(me.account_id).expect("checked");
        let link =
            b.links.iter_mut().find(|l| l.id == id).ok_or_else(|| {
                Refusal::new(StatusCode::NOT_FOUND, 404, "tracking link not found")
            })?;
        if let Some(label) = body_str(body, "label") {
            link.label = label.to_owned();
        }
        if let Some(description) = body_str(body, "description") {
            link.description = description.to_owned();
        }
        let b = world.business(me.account_id);
        let link = b.links.iter().find(|l| l.id == id).expect("found above");
        Ok(b.link_json(link))
    })
}

/// The new dashboard's account summary for `after <= t < before` (ms, UTC
/// midnights), counted from the same events as every other answer. The
/// response shape is INFERRED (spec §7: fields only named by HUB).
async fn stats_summary(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Params,
) -> Response {
    answer((|| {
        let (after, before) = window(&q)?;
        let world = state.world();
        let b = world.business(me.account_id);
        let inside = |t: i64| t >= after && t < before;
        let sales: Vec<&Transaction> = b.transactions.iter().filter(|t| inside(t.at_ms)).collect();
        let paying: std::collections::BTreeSet<u64> = sales.iter().map(|t| t.fan).collect();
        let sum = |f: &dyn Fn(&Transaction) -> i64| sales.iter().map(|t| f(t)).sum::<i64>();
        Ok(json!({
            "after": after,
            "before": before,
            "dataSince": b.start_ms,
            "newFollowers": b.follows.iter().filter(|f| inside(f.at_ms)).count(),
            "newSubscribers": b.subscriptions.iter().filter(|s| inside(s.created_ms)).count(),
            "payingFans": paying.len(),
            "purchases": sales.len(),
            "grossMills": sum(&|t| t.amount),
            "netMills": sum(&|t| t.net()),
            "tipsMills": sum(&|t| if t.kind == crate::business::TYPE_TIP { t.amount } else { 0 })
        }))
    })())
}
