//! Profile statistics. Insights: Fansly's legacy per-bucket viewer stats,
//! passed through. Analytics summary: Fansly's account summary for a window of whole UTC
//! days, next to the same summary for the equally long window before it.

use fansly_upstream::{FanslyClient, Window};
use serde_json::{json, Map, Value};

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::core::time::DAY_MS;
use crate::fansly::answers::{ask, upstream, Answer};

/// The counters compared (keys of Fansly's summary; INFERRED names).
const METRICS: [&str; 7] = [
    "payingFans",
    "newFollowers",
    "newSubscribers",
    "purchases",
    "grossMills",
    "netMills",
    "tipsMills",
];

/// `first_day`..=`last_day` are UTC midnights (ms). Two Fansly calls: the
/// window and the previous one.
#[tracing::instrument(skip_all, fields(op = "analytics.summary", account = %account.id))]
pub async fn summary(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    first_day: i64,
    last_day: i64,
) -> Answer {
    let span = last_day - first_day + DAY_MS;
    let current = Window {
        after_ms: first_day,
        before_ms: last_day + DAY_MS,
    };
    let previous = Window {
        after_ms: first_day - span,
        before_ms: first_day,
    };
    let (now, before) = tokio::try_join!(
        fansly.stats_summary(&account.session, current),
        fansly.stats_summary(&account.session, previous),
    )
    .map_err(upstream(account))?;
    let mut out = Map::new();
    out.insert("afterBucket".into(), json!(first_day));
    out.insert("beforeBucket".into(), json!(last_day));
    out.insert("previousAfterBucket".into(), json!(previous.after_ms));
    out.insert("previousBeforeBucket".into(), json!(first_day - DAY_MS));
    out.insert("dataSince".into(), now["dataSince"].clone());
    for key in METRICS {
        let (value, prev) = (now[key].as_i64(), before[key].as_i64());
        let (Some(value), Some(prev)) = (value, prev) else {
            return Err(ApiError::BadGateway(format!(
                "Fansly's account summary has no {key}"
            )));
        };
        let delta_percent =
            (prev != 0).then(|| ((value - prev) as f64 * 10_000.0 / prev as f64).round() / 100.0);
        out.insert(
            key.into(),
            json!({"value": value, "previous": prev, "delta": value - prev, "deltaPercent": delta_percent}),
        );
    }
    Ok(Value::Object(out))
}

/// Fansly's legacy viewer statistics in `period_ms` buckets over `window`.
#[tracing::instrument(skip_all, fields(op = "analytics.insights", account = %account.id))]
pub async fn insights(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    window: Window,
    period_ms: i64,
) -> Answer {
    ask(
        account,
        fansly.account_stats(&account.session, window, period_ms),
    )
    .await
}
