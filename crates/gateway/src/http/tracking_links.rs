//! `/tracking-links/...`: links with their counters, and day-by-day stats.

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::http::calls::{call, endpoint};
use crate::http::envelope::Metered;
use crate::http::extract::Authed;
use crate::http::params::{days_before, fansly_id, Params};
use crate::tracking;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_links))
        .routes(routes!(link_stats))
}

/// List Tracking Links: every link with its aggregate counters.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/tracking-links",
    tag = "Tracking Links",
    operation_id = "listTrackingLinks",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID")),
    responses((status = 200, description = "`data` is Fansly's array of links", body = Object)),
    security(("default" = []))
)]
async fn list_links(
    State(state): State<AppState>,
    authed: Authed,
    Path(account): Path<String>,
) -> Result<Metered, ApiError> {
    call(
        &state,
        authed,
        &account,
        endpoint("tracking_links.list"),
        |f, a| async move { tracking::links(&f, &a).await },
    )
    .await
}

/// Get Tracking Link Stats: one row per UTC day in the window (default: the last 30 days).
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/tracking-links/{tracking_link_id}/stats",
    tag = "Tracking Links",
    operation_id = "getTrackingLinkStats",
    params(
        ("fanslyAccount" = String, Path, description = "The Fansly Account ID"),
        ("tracking_link_id" = String, Path, description = "The Fansly tracking link ID"),
        ("before" = Option<String>, Query, description = "ISO 8601; default now"),
        ("after" = Option<String>, Query, description = "ISO 8601; default 30 days ago"),
    ),
    responses((status = 200, description = "Day rows `{trackingLinkId, timestamp, clicks, claims, follows, subscriptions, year, month, date}`", body = Object), (status = 404, description = "Unknown link")),
    security(("default" = []))
)]
async fn link_stats(
    State(state): State<AppState>,
    authed: Authed,
    Path((account, link)): Path<(String, String)>,
    params: Params,
) -> Result<Metered, ApiError> {
    let link = fansly_id("tracking_link_id", &link)?;
    let window = params.window(days_before(30), now_ms())?;
    call(
        &state,
        authed,
        &account,
        endpoint("tracking_links.stats"),
        |f, a| async move { tracking::stats(&f, &a, &link, window).await },
    )
    .await
}
