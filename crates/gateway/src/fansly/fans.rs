//! Followers, following, subscribers, tiers and mutes: Fansly's answers passed
//! through, after checking they have the shape paging relies on.

use fansly_upstream::{FanslyClient, Page, SubscriberStatus};
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::{ask, rows, Answer};

/// `ignoreFlags` that sets a mute; 0 lifts it (INFERRED, spec §4.6).
const MUTE_FLAGS: i64 = 1;

#[tracing::instrument(skip_all, fields(op = "fans.followers", account = %account.id))]
pub async fn followers(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    page: &Page,
    search: &str,
) -> Answer {
    let v = ask(
        account,
        fansly.followers(&account.session, &account.fansly_id, page, search),
    )
    .await?;
    rows(&v, Some("followers"), "the follower list")?;
    Ok(v)
}

/// Drops the accounts of `aggregationData` that no follower of the page
/// names (after the page was cut to the asked `limit`).
pub fn keep_listed_accounts(page: &mut Value) {
    let listed: Vec<Value> = page["followers"]
        .as_array()
        .map(|f| f.iter().map(|f| f["followerId"].clone()).collect())
        .unwrap_or_default();
    if let Some(accounts) = page["aggregationData"]["accounts"].as_array_mut() {
        accounts.retain(|a| listed.contains(&a["id"]));
    }
}

/// Keeps the followers of a page whose account was last seen at or after
/// `after_ms`. Fansly is not known to filter by it, so the gateway filters
/// each page it fetched (paging still follows Fansly's pages; INFERRED).
pub fn keep_seen_after(page: &mut Value, after_ms: i64) {
    let Some(accounts) = page["aggregationData"]["accounts"].as_array_mut() else {
        return;
    };
    accounts.retain(|a| a["lastSeenAt"].as_i64().is_some_and(|t| t >= after_ms));
    let kept: Vec<Value> = accounts.iter().map(|a| a["id"].clone()).collect();
    if let Some(followers) = page["followers"].as_array_mut() {
        followers.retain(|f| kept.contains(&f["followerId"]));
    }
}

#[tracing::instrument(skip_all, fields(op = "fans.following", account = %account.id))]
pub async fn following(fansly: &FanslyClient, account: &ConnectedAccount, page: &Page) -> Answer {
    let v = ask(
        account,
        fansly.following(&account.session, &account.fansly_id, page),
    )
    .await?;
    rows(&v, None, "the following list")?;
    Ok(v)
}

#[derive(Clone)]
pub struct SubscriberQuery {
    pub status: SubscriberStatus,
    pub tier_id: Option<String>,
    pub search: String,
    pub page: Page,
}

#[tracing::instrument(skip_all, fields(op = "fans.subscribers", account = %account.id))]
pub async fn subscribers(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    q: &SubscriberQuery,
) -> Answer {
    let v = ask(
        account,
        fansly.subscribers(
            &account.session,
            q.status,
            q.tier_id.as_deref(),
            &q.search,
            &q.page,
        ),
    )
    .await?;
    rows(&v, Some("subscriptions"), "the subscriber list")?;
    Ok(v)
}

impl SubscriberQuery {
    /// Where Fansly's `stats` counts the matching subscriptions in all (a
    /// JSON pointer); only known when nothing narrows the list beyond `status`.
    pub fn total_at(&self) -> Option<&'static str> {
        if self.tier_id.is_some() || !self.search.is_empty() {
            return None;
        }
        Some(match self.status {
            SubscriberStatus::Active => "/stats/totalActive",
            SubscriberStatus::Expired => "/stats/totalExpired",
            SubscriberStatus::All => "/stats/total",
        })
    }
}

#[tracing::instrument(skip_all, fields(op = "fans.tiers", account = %account.id))]
pub async fn tiers(fansly: &FanslyClient, account: &ConnectedAccount) -> Answer {
    ask(account, fansly.subscription_tiers(&account.session)).await
}

/// Mutes (`mute`) or unmutes a user, after checking the user exists so an
/// unknown id is a 404 rather than whatever Fansly makes of it.
#[tracing::instrument(skip_all, fields(op = "fans.set_mute", account = %account.id))]
pub async fn set_mute(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    user_id: &str,
    mute: bool,
) -> Answer {
    require_users(fansly, account, &[user_id.to_owned()]).await?;
    ask(
        account,
        fansly.set_ignore(&account.session, user_id, if mute { MUTE_FLAGS } else { 0 }),
    )
    .await
}

/// Looks `ids` up and answers 404 naming those Fansly does not know; returns
/// the accounts found.
#[tracing::instrument(skip_all, fields(op = "fans.require_users", account = %account.id))]
pub async fn require_users(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    ids: &[String],
) -> Result<Vec<Value>, ApiError> {
    let found = ask(account, fansly.accounts_by_ids(&account.session, ids)).await?;
    let found = rows(&found, None, "the account lookup")?.to_vec();
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !found.iter().any(|a| a["id"].as_str() == Some(id.as_str())))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no Fansly user with id {}",
            missing.join(", ")
        )));
    }
    Ok(found)
}
