//! `/tracking-links/...`: links with their counters, and day-by-day stats.

use axum::extract::Path;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::core::time::now_ms;
use crate::fansly::tracking;
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::params::{days_before, Params};
use crate::http::routes::declare::endpoint;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_links))
        .routes(routes!(update_link))
        .routes(routes!(link_stats))
}

endpoint! {
    /// List Tracking Links: every link with its aggregate counters.
    get "/api/fansly/{fanslyAccount}/tracking-links" "listTrackingLinks",
    responses((status = 200, description = "`data` is Fansly's array of links", body = Object)),
    fn list_links => prices::TRACKING_LINKS_LIST, tracking::links
}

endpoint! {
    /// Get Tracking Link Stats: one row per UTC day in the window (default: the last 30 days).
    get "/api/fansly/{fanslyAccount}/tracking-links/{tracking_link_id}/stats" "getTrackingLinkStats",
    params(
        ("before" = Option<String>, Query, description = "ISO 8601; default now"),
        ("after" = Option<String>, Query, description = "ISO 8601; default 30 days ago"),
    ),
    responses((status = 200, description = "Day rows `{trackingLinkId, timestamp, clicks, claims, follows, subscriptions, year, month, date}`", body = Object), (status = 404, description = "Unknown link")),
    fn link_stats(
        scope: AccountScope,
        Path((_account, link)): Path<(String, String)>,
        params: Params,
    ) {
        let link = FanslyId::parse("tracking_link_id", &link)?;
        let window = params.window(days_before(30), now_ms())?;
        scope
            .call(prices::TRACKING_LINKS_STATS, |f, a| async move {
                tracking::stats(&f, &a, &link, window).await
            })
            .await
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLinkBody {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Longest label or description accepted (Fansly's limits are unknown; INFERRED).
const MAX_TEXT: usize = 500;

/// Update Tracking Link: a new `label` and/or `description`; answers the link.
#[utoipa::path(
    put,
    path = "/api/fansly/{fanslyAccount}/tracking-links/{tracking_link_id}",
    operation_id = "updateTrackingLink",
    request_body = UpdateLinkBody,
    responses((status = 200, description = "`data` is the updated link", body = Object), (status = 404, description = "Unknown link")),
)]
async fn update_link(
    scope: AccountScope,
    Path((_account, link)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateLinkBody>,
) -> Result<Metered, ApiError> {
    let link = FanslyId::parse("tracking_link_id", &link)?;
    let label = body.label.as_deref().map(str::trim);
    if label.is_none() && body.description.is_none() {
        return Err(ApiError::Unprocessable(
            "give label and/or description to change".into(),
        ));
    }
    if label == Some("") {
        return Err(ApiError::Unprocessable("label must not be empty".into()));
    }
    for (name, text) in [
        ("label", label),
        ("description", body.description.as_deref()),
    ] {
        if text.is_some_and(|t| t.chars().count() > MAX_TEXT) {
            return Err(ApiError::Unprocessable(format!(
                "{name} must be at most {MAX_TEXT} characters"
            )));
        }
    }
    let label = label.map(str::to_owned);
    scope
        .call(prices::TRACKING_LINKS_UPDATE, |f, a| async move {
            tracking::update(&f, &a, &link, label.as_deref(), body.description.as_deref()).await
        })
        .await
}
