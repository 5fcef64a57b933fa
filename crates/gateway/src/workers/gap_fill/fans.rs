//! Gap fill of followers and subscriptions: the rows Fansly lists newest
//! first ([`Listing::Followers`], [`Listing::Subscriptions`]) turned into
//! the events the socket would have delivered (3.2, 15.5), with its keys.
//!
//! A list shows only how a row stands now: an unfollow (the row is gone)
//! and the renewals between a subscription's start and its present version
//! are not found; a subscription started and renewed or ended during the
//! break is its start and its present state.

use serde_json::{json, Value};

use crate::events::keys;
use crate::workers::gap_fill::fill::{id_of, time_ms, Advance, Fill, Found, Stop};
use crate::workers::gap_fill::listing::{walk, Listing};

/// New followers of the account since the `followers` mark.
pub async fn followers(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    let me = fill.account.fansly_id.clone();
    for (row, at) in walk(fill, Listing::Followers, advances).await? {
        let Some(id) = id_of(&row, "id") else {
            continue;
        };
        // The 3.2 frame's shape: the follow, who follows, whom, when.
        let payload = json!({
            "id": id.to_string(),
            "followerId": row.get("followerId").cloned().unwrap_or(Value::Null),
            "accountId": me,
            "createdAt": at,
        });
        found.push(Found {
            name: "fansly.followers.new",
            dedup_key: keys::follow(2, &id.to_string()),
            payload,
            at,
            order: id,
        });
    }
    Ok(())
}

/// Subscriptions started, renewed or ended since the `subscriptions` mark.
pub async fn subscriptions(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    let me = fill.account.fansly_id.clone();
    let floor = fill.floor;
    for (row, at) in walk(fill, Listing::Subscriptions, advances).await? {
        let Some(id) = id_of(&row, "id") else {
            continue;
        };
        let id_s = id.to_string();
        let version = row.get("version").and_then(Value::as_i64).unwrap_or(1);
        let mut payload = row.clone();
        payload["accountId"] = json!(me);
        let started = time_ms(&row, "createdAt").unwrap_or(at);
        let mut push = |name, dedup_key, at| {
            found.push(Found {
                name,
                dedup_key,
                payload: payload.clone(),
                at,
                order: id,
            })
        };
        let status = row.get("status").and_then(Value::as_i64);
        let ended = matches!(status, Some(4 | 5));
        // Its start, when that too is inside the break (and the horizon) and
        // the row shows a later state of it: a renewal or the end.
        if started >= floor && (version > 1 || ended) {
            push(
                "fansly.subscriptions.new",
                keys::subscription_confirmed(&id_s, 1),
                started,
            );
        }
        match status {
            Some(3) if version <= 1 => push(
                "fansly.subscriptions.new",
                keys::subscription_confirmed(&id_s, 1),
                at,
            ),
            Some(3) => push(
                "fansly.subscriptions.renewed",
                keys::subscription_confirmed(&id_s, version),
                at,
            ),
            Some(4 | 5) => push(
                "fansly.subscriptions.expired",
                keys::subscription_ended(&id_s, version),
                at,
            ),
            _ => {}
        }
    }
    Ok(())
}
