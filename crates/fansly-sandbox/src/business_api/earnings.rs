//! Money: wallets, the earnings balance, the earnings ledger (all rows, one
//! fan's rows, per-fan totals, totals per type, monthly rows) and payouts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::business::{Business, Transaction, DAY_MS};
use crate::business_api::request::{
    business_get, id_param, ms_to_date, num, page, window, QueryMap, Refusal,
};
use crate::caller::Caller;
use crate::envelope::{fail, ok};
use crate::state::AppState;
use crate::world::now_ms;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/account/{id}/wallets", get(wallets))
        .route("/api/v1/account/wallets/earnings", get(earnings))
        .route(
            "/api/v1/account/wallets/earnings/transactions",
            business_get(transactions),
        )
        .route(
            "/api/v1/account/wallets/earnings/transactions/accounts",
            business_get(fan_transactions),
        )
        .route(
            "/api/v1/account/wallets/earnings/accounts",
            business_get(fan_totals),
        )
        .route(
            "/api/v1/account/wallets/earnings/stats",
            business_get(earnings_stats),
        )
        .route(
            "/api/v1/account/wallets/earnings/monthlystats",
            business_get(monthly_stats),
        )
        .route("/api/v1/payments/payout/requests", business_get(payouts))
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
fn transactions(b: &Business, _: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let (limit, offset) = page(q, 10)?;
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
}

/// One fan's ledger rows newest first; `cursor` = the last `transactionId`
/// received, `nextCursor` set while `hasMore`.
fn fan_transactions(b: &Business, _: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let fan = id_param(q, "correlationAccountId")?;
    let (after, before) = window(q)?;
    let limit = num(q, "limit", 50)?.clamp(1, 100) as usize;
    let cursor = match q.get("cursor").map(|s| s.trim()) {
        None | Some("") | Some("0") => u64::MAX,
        Some(_) => id_param(q, "cursor")?,
    };
    let now = now_ms();
    let mut rows = b
        .in_window(after, before)
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
}

/// Fansly's earnings pages hold at most 100 rows and ignore `offset`
/// (agency tools split a full window by day instead; issue 13 row 7): the
/// first `limit` (≤ 100, default 100) rows, whatever `offset` says.
fn capped(q: &QueryMap) -> Result<usize, Refusal> {
    Ok(num(q, "limit", 100)?.clamp(0, 100) as usize)
}

/// Per-fan totals over a window, one row per paying fan (HUB): Fansly's own
/// aggregation, in no particular order, at most one capped page of it.
fn fan_totals(b: &Business, me: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let (after, before) = window(q)?;
    let cap = capped(q)?;
    let mut totals: std::collections::BTreeMap<u64, (i64, i64)> = Default::default();
    for t in b.in_window(after, before) {
        let e = totals.entry(t.fan).or_default();
        e.0 += t.amount;
        e.1 += t.net();
    }
    Ok(totals
        .into_iter()
        .take(cap)
        .map(|(fan, (gross, net))| {
            json!({
                "totalGross": gross,
                "totalNet": net,
                "accountId": me.to_string(),
                "correlationAccountId": fan.to_string()
            })
        })
        .collect())
}

/// Totals per transaction type over a window (shape INFERRED).
fn earnings_stats(b: &Business, _: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let (after, before) = window(q)?;
    let cap = capped(q)?;
    let mut by_type: std::collections::BTreeMap<i64, (i64, i64, i64)> = Default::default();
    for t in b.in_window(after, before) {
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
        "stats": by_type.into_iter().take(cap).map(|(kind, (count, gross, net))| json!({
            "type": kind,
            "count": count,
            "totalGross": gross,
            "totalNet": net
        })).collect::<Vec<_>>()
    }))
}

/// A rolling 30-day summary (`year` and `month` 0), then one row per
/// calendar month (1-based `month`) overlapping the window, newest first.
fn monthly_stats(b: &Business, _: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let (after, before) = window(q)?;
    let now = now_ms();
    let before = before.min(now);
    let row = |year: i32, month: u8, from: i64, to: i64| {
        let (gross, net) = b
            .in_window(from, to)
            .fold((0, 0), |(g, n), t| (g + t.amount, n + t.net()));
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
}

/// Where the creator ranks among all creators by gross (a plausible stand-in).
fn top_percent(gross: i64) -> i64 {
    (60 - gross / 200_000).clamp(1, 100)
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
fn payouts(b: &Business, _: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let (limit, offset) = page(q, 10)?;
    let (after, before) = window(q)?;
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
}
