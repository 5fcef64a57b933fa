//! Post statistics: `GET /post/{postId}/stats`, engagement and per-offer,
//! per-source figures derived from the ids so they are stable.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::caller::Caller;
use crate::content::{engagement, seeded};
use crate::envelope::{bad_param, fail, ok};
use crate::params::parse_id;
use crate::state::AppState;
use crate::world::now_ms;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/post/{id}/stats", get(post_stats))
}

/// Traffic sources the stats know: 0 For You, 1 timeline, 2 suggestions,
/// 3 search, 4 other (codes INFERRED, as the vendor lists them).
const SOURCES: u8 = 5;
const DAY_MS: i64 = 86_400_000;

/// `GET /post/{postId}/stats?sources=<csv>` (route INFERRED) → the post's
/// engagement and, per attached accountMedia (an "offer"), per source, the
/// views and watch figures of its media with a daily series. Every number
/// is derived from the post, grant and media ids, so it is stable and the
/// daily series sum to the totals.
async fn post_stats(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let raw = q.get("sources").map(String::as_str).unwrap_or("0,1");
    let sources: Option<Vec<u8>> = raw
        .split(',')
        .map(|s| s.trim().parse::<u8>().ok().filter(|s| *s < SOURCES))
        .collect();
    let Some(mut sources) = sources.filter(|s| !s.is_empty()) else {
        return bad_param("invalid parameter \"sources\"");
    };
    sources.sort_unstable();
    sources.dedup();
    let world = state.world();
    let Some(post) = parse_id(&id)
        .and_then(|id| world.content.post(id))
        .filter(|p| p.account == me.account_id)
    else {
        return fail(StatusCode::NOT_FOUND, 404, "post not found");
    };
    let now = now_ms();
    let first_day = post.created_ms.max(post.scheduled_for_ms) / DAY_MS;
    let days = (now / DAY_MS - first_day + 1).clamp(1, 30);
    // One offer per accountMedia: a bundle's items count one by one.
    let offers: Vec<Value> = post
        .attachments
        .iter()
        .flat_map(|a| match world.messaging.bundles.get(&a.content_id) {
            Some(b) => b.items.clone(),
            None => vec![a.content_id],
        })
        .filter_map(|id| world.messaging.grants.get(&id))
        .map(|g| {
            let video = world
                .messaging
                .media
                .get(&g.media)
                .is_some_and(|m| m.mime.starts_with("video/"));
            let per_source: Vec<Value> = sources
                .iter()
                .map(|&src| {
                    json!({
                        "source": src,
                        "media": [media_stats(g.id, g.media, src, video, first_day, days)]
                    })
                })
                .collect();
            json!({
                "mediaOfferId": g.id.to_string(),
                "previewId": world.content.previews.get(&g.id).map(u64::to_string),
                "attribution": "media_offer",
                "sources": per_source
            })
        })
        .collect();
    let e = engagement(post.id);
    ok(json!({
        "postId": post.id.to_string(),
        "sources": sources,
        "engagement": {"likes": e.likes, "unlikes": e.unlikes, "comments": e.comments},
        "offers": offers,
        "otherAttachments": []
    }))
}

fn media_stats(
    offer: u64,
    media: u64,
    source: u8,
    video: bool,
    first_day: i64,
    days: i64,
) -> Value {
    let salt = offer ^ (u64::from(source) << 56);
    let views = seeded(salt, 10) % 400;
    let impressions = views + seeded(salt, 11) % 800;
    let (video_views, completed, watch_ms, pct_sum, replays) = if video {
        let vv = views;
        let completed = seeded(salt, 12) % (vv + 1);
        let watch_ms = vv * (5_000 + seeded(salt, 13) % 55_000);
        let pct_sum = vv * (20 + seeded(salt, 14) % 80);
        (
            vv,
            completed,
            watch_ms,
            pct_sum,
            seeded(salt, 15) % (vv / 4 + 1),
        )
    } else {
        (0, 0, 0, 0, 0)
    };
    let avg = |sum: u64| sum.checked_div(video_views).unwrap_or(0);
    // Even split, remainder on the newest day, so the series sums to the totals.
    let n = days as u64;
    let daily: Vec<Value> = (0..days)
        .map(|d| {
            let share = |total: u64| total / n + if d == days - 1 { total % n } else { 0 };
            json!({
                "date": (first_day + d) * DAY_MS,
                "views": share(views),
                "impressions": share(impressions),
                "watchMs": share(watch_ms),
                "videoViews": share(video_views)
            })
        })
        .collect();
    json!({
        "mediaId": media.to_string(),
        "totals": {
            "views": views,
            "impressions": impressions,
            "watchMs": watch_ms,
            "videoViews": video_views,
            "completedViews": completed,
            "watchPctSum": pct_sum,
            "replays": replays
        },
        "averageWatchMs": avg(watch_ms),
        "averageWatchPercent": avg(pct_sum),
        "daily": daily
    })
}
