//! Tracking links: the list with totals, one link's day rows, and editing a
//! link.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::business::{Business, DAY_MS};
use crate::business_api::request::{
    body_id, body_str, business_get, id_param, ms_to_date, window, with_business, Body, QueryMap,
    Refusal,
};
use crate::caller::Caller;
use crate::envelope::ok;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/trackinglinks", get(tracking_links))
        .route(
            "/api/v1/trackinglinks/stats",
            business_get(tracking_link_stats),
        )
        .route("/api/v1/trackinglinks/update", post(update_tracking_link))
}

/// A bare array, built-in links first (spec §7).
async fn tracking_links(State(state): State<AppState>, Caller(me): Caller) -> Response {
    let world = state.world();
    let b = world.business(me.account_id);
    ok(b.links.iter().map(|l| b.link_json(l)).collect())
}

/// Day rows of one link inside the window (keys as the vendor's example).
fn tracking_link_stats(b: &Business, _: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let id = id_param(q, "trackingLinkId")?;
    let (after, before) = window(q)?;
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
