//! Tracking links and their day-by-day counters.

use fansly_upstream::{FanslyClient, Window};
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::{missing_on_404, rows, upstream};

#[tracing::instrument(skip_all, fields(op = "tracking.links", account = %account.id))]
pub async fn links(fansly: &FanslyClient, account: &ConnectedAccount) -> Result<Value, ApiError> {
    let v = fansly
        .tracking_links(&account.session)
        .await
        .map_err(upstream(account))?;
    rows(&v, None, "the tracking links")?;
    Ok(v)
}

#[tracing::instrument(skip_all, fields(op = "tracking.stats", account = %account.id))]
pub async fn stats(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    link_id: &str,
    window: Window,
) -> Result<Value, ApiError> {
    let v = fansly
        .tracking_link_stats(&account.session, link_id, window)
        .await
        .map_err(missing_on_404(account, format!("tracking link {link_id}")))?;
    rows(&v, None, "the tracking link stats")?;
    Ok(v)
}

#[tracing::instrument(skip_all, fields(op = "tracking.update", account = %account.id))]
pub async fn update(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    link_id: &str,
    label: Option<&str>,
    description: Option<&str>,
) -> Result<Value, ApiError> {
    fansly
        .update_tracking_link(&account.session, link_id, label, description)
        .await
        .map_err(missing_on_404(account, format!("tracking link {link_id}")))
}
