//! Statistics: the legacy account insights (`/it/amoie/stats`) and the new
//! dashboard's account summary.

use std::collections::BTreeSet;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::business::{Business, Transaction, DAY_MS, TYPE_TIP};
use crate::business_api::request::{
    answer, bad_param, business_get, num, window, Params, QueryMap, Refusal,
};
use crate::caller::Caller;
use crate::state::AppState;
use crate::world::now_ms;
use fansly_upstream::{Window, STATS_MAX_WINDOW_MS};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/it/amoie/stats", get(insights))
        .route("/api/v1/account/stats/summary", business_get(stats_summary))
}

/// Legacy account statistics: `period`-sized buckets (ms) between
/// `afterDate` and `beforeDate`, at most 100, each with a row per content
/// type (0 and 1). Viewer numbers are a deterministic function of the
/// creator, bucket and type, scaled by the bucket length.
///
/// Like Fansly (HUB-LOG): `year`/`month` (non-zero) ask for that calendar
/// month; a window longer than 31 days is not served as asked but answered
/// with the default trailing 31 days up to now, and `dataset.dateAfter` /
/// `dateBefore` say which window was served.
async fn insights(State(state): State<AppState>, Caller(me): Caller, Query(q): Params) -> Response {
    answer((|| {
        const LIMIT: i64 = 100;
        let period = num(&q, "period", DAY_MS)?;
        if period < 60_000 {
            return Err(bad_param("period"));
        }
        let (year, month) = (num(&q, "year", 0)?, num(&q, "month", 0)?);
        let (mut after, mut before) = if year != 0 && month != 0 {
            let w = i32::try_from(year)
                .ok()
                .zip(u8::try_from(month).ok())
                .and_then(|(y, m)| Window::month(y, m))
                .ok_or_else(|| bad_param("month"))?;
            (w.after_ms, w.before_ms)
        } else {
            (num(&q, "afterDate", 0)?, num(&q, "beforeDate", 0)?)
        };
        if before <= after {
            return Err(bad_param("beforeDate"));
        }
        if before - after > STATS_MAX_WINDOW_MS {
            before = now_ms();
            after = before - STATS_MAX_WINDOW_MS;
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

/// The new dashboard's account summary for `after <= t < before` (ms, UTC
/// midnights), counted from the same events as every other answer. The
/// response shape is INFERRED (spec §7: fields only named by HUB).
fn stats_summary(b: &Business, _: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let (after, before) = window(q)?;
    let inside = |t: i64| t >= after && t < before;
    let sales: Vec<&Transaction> = b.transactions.iter().filter(|t| inside(t.at_ms)).collect();
    let paying: BTreeSet<u64> = sales.iter().map(|t| t.fan).collect();
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
        "tipsMills": sum(&|t| if t.kind == TYPE_TIP { t.amount } else { 0 })
    }))
}
