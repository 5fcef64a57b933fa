//! Profile statistics: `/insights` (Fansly's legacy account statistics over
//! a named range) and `/analytics/summary`.

use fansly_upstream::Window;
use time::{Date, Month};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::time::now_ms;
use crate::core::time::DAY_MS;
use crate::fansly::analytics;
use crate::http::params::Params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_insights))
        .routes(routes!(analytics_summary))
}

const HOUR_MS: i64 = 3_600_000;

/// The window and bucket of a `range` (spec: 5 min / 1 h / 6 h / 1 d).
/// Rolling ranges end at the start of the current bucket, so every bucket is whole.
fn range_window(params: &Params, now: i64) -> Result<(Window, i64), ApiError> {
    let range = params.choice(
        "range",
        &[
            "last_hour",
            "last_24h",
            "last_7_days",
            "last_30_days",
            "month",
        ],
        "last_30_days",
    )?;
    let rolling = |span: i64, period: i64| {
        let before_ms = now - now.rem_euclid(period);
        (
            Window {
                after_ms: before_ms - span,
                before_ms,
            },
            period,
        )
    };
    Ok(match range {
        "last_hour" => rolling(HOUR_MS, 5 * 60_000),
        "last_24h" => rolling(DAY_MS, HOUR_MS),
        "last_7_days" => rolling(7 * DAY_MS, 6 * HOUR_MS),
        "last_30_days" => rolling(30 * DAY_MS, DAY_MS),
        _ => (month_window(params.get("month"))?, DAY_MS),
    })
}

fn month_window(raw: Option<&str>) -> Result<Window, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::Unprocessable("month is required when range=month (YYYY-MM)".into())
    })?;
    let bad = || ApiError::Unprocessable(format!("month must be YYYY-MM, got {raw:?}"));
    let (y, m) = raw.split_once('-').ok_or_else(bad)?;
    let (year, month): (i32, u8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let month = Month::try_from(month).map_err(|_| bad())?;
    let start = Date::from_calendar_date(year, month, 1).map_err(|_| bad())?;
    let next = if month == Month::December {
        Date::from_calendar_date(year + 1, Month::January, 1)
    } else {
        Date::from_calendar_date(year, month.next(), 1)
    }
    .map_err(|_| bad())?;
    let ms = |d: Date| d.midnight().assume_utc().unix_timestamp() * 1000;
    crate::http::params::in_fansly_range("month", raw, ms(start))?;
    Ok(Window {
        after_ms: ms(start),
        before_ms: ms(next),
    })
}

endpoint! {
    /// Get Insights: viewer engagement per bucket, Fansly's `{dataset}`.
    get "/api/fansly/{fanslyAccount}/insights" "getInsights",
    params(
        ("range" = Option<String>, Query, description = "last_hour | last_24h | last_7_days | last_30_days (default) | month"),
        ("month" = Option<String>, Query, description = "YYYY-MM; required when range=month"),
    ),
    responses((status = 200, description = "`data` is Fansly's `{dataset}`", body = Object)),
    fn get_insights(scope: AccountScope, params: Params) {
        let (window, period) = range_window(&params, now_ms())?;
        let mut m = scope
            .call(prices::INSIGHTS_GET, |f, a| async move {
                analytics::insights(&f, &a, window, period).await
            })
            .await?;
        // Fansly may serve another window than asked: say so in `_meta`.
        m.meta.upstream_window = fansly_upstream::stats_window_mismatch(window, &m.data);
        Ok(m)
    }
}

endpoint! {
    /// Get Analytics Summary: account metrics over whole UTC days (`after` and
    /// `before` rounded down to midnight, `before`'s day included; default the
    /// last 30 days to today), each with the previous period of the same length.
    get "/api/fansly/{fanslyAccount}/analytics/summary" "getAnalyticsSummary",
    params(
        ("after" = Option<String>, Query, description = "ISO 8601; rounded down to UTC midnight; default 29 days before `before`"),
        ("before" = Option<String>, Query, description = "ISO 8601; rounded down to UTC midnight, day included; default today"),
    ),
    responses((status = 200, description = "`{afterBucket, beforeBucket, previousAfterBucket, previousBeforeBucket, dataSince, <metric>: {value, previous, delta, deltaPercent}}`", body = Object)),
    fn analytics_summary(scope: AccountScope, params: Params) {
        let now = now_ms();
        let day = |ms: i64| ms - ms.rem_euclid(DAY_MS);
        let window = params.window(|end| end - 29 * DAY_MS, now)?;
        let (first, last) = (day(window.after_ms), day(window.before_ms));
        scope
            .call(prices::ANALYTICS_SUMMARY, |f, a| async move {
                analytics::summary(&f, &a, first, last).await
            })
            .await
    }
}
