//! Tracking links and their day-by-day counters.

use fansly_upstream::{FanslyClient, Window};

use crate::accounts::sessions::ConnectedAccount;
use crate::fansly::answers::{ask, missing_on_404, rows, Answer};

#[tracing::instrument(skip_all, fields(op = "tracking.links", account = %account.id))]
pub async fn links(fansly: &FanslyClient, account: &ConnectedAccount) -> Answer {
    let v = ask(account, fansly.tracking_links(&account.session)).await?;
    rows(&v, None, "the tracking links")?;
    Ok(v)
}

#[tracing::instrument(skip_all, fields(op = "tracking.stats", account = %account.id))]
pub async fn stats(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    link_id: &str,
    window: Window,
) -> Answer {
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
) -> Answer {
    fansly
        .update_tracking_link(&account.session, link_id, label, description)
        .await
        .map_err(missing_on_404(account, format!("tracking link {link_id}")))
}
