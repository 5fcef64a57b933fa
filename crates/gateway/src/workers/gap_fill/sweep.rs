//! The sweep's REST diffs, for what Fansly announces no event for: a post
//! reaching its expiry (it just leaves the timeline) and the account's own
//! public profile changing (12.2 says the account changed, not that its
//! profile did). What was last seen is kept in `gap_snapshots`; the first
//! look at an account only remembers.

use serde_json::{json, Value};

use crate::core::time::now_ms;
use crate::events::{keys, marks};
use crate::workers::gap_fill::fill::{id_of, time_ms, Advance, Fill, Found, Stop};

const EXPIRING: &str = "post_expiry";
const PROFILE: &str = "profile";

pub async fn fill(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    _advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    expired_posts(fill, found).await?;
    profile(fill, found).await
}

/// Posts with an expiry are remembered as seen on the first timeline page;
/// one whose expiry has passed is `fansly.posts.expired`, once.
async fn expired_posts(fill: &mut Fill<'_>, found: &mut Vec<Found>) -> Result<(), Stop> {
    if !fill.spend() {
        return Err(Stop::Allowance);
    }
    let account = fill.account.account_id.clone();
    let db = fill.deps.db.clone();
    let page = fill
        .deps
        .fansly
        .timeline(&fill.session, &fill.account.fansly_id, None, None, None)
        .await?;
    let now = now_ms();
    let posts = page
        .get("posts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in &posts {
        let (Some(id), Some(_)) = (id_of(p, "id"), time_ms(p, "expiresAt")) else {
            continue;
        };
        marks::remember(
            &db,
            &account,
            EXPIRING,
            &id.to_string(),
            &p.to_string(),
            now,
        )
        .await?;
    }
    // Remembered posts gone from the first page: expired, deleted or just
    // pushed down. `post?ids=` answers the account's own posts either way,
    // with their expiry as it now stands.
    let on_page: std::collections::HashSet<String> = posts
        .iter()
        .filter_map(|p| id_of(p, "id").map(|i| i.to_string()))
        .collect();
    let missing: Vec<String> = marks::snapshot(&db, &account, EXPIRING)
        .await?
        .into_keys()
        .filter(|i| !on_page.contains(i))
        .take(100)
        .collect();
    if !missing.is_empty() {
        if !fill.spend() {
            return Err(Stop::Allowance);
        }
        let current = fill
            .deps
            .fansly
            .posts_by_id(&fill.session, &missing)
            .await?;
        for p in current
            .get("posts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = id_of(p, "id") {
                marks::remember(
                    &db,
                    &account,
                    EXPIRING,
                    &id.to_string(),
                    &p.to_string(),
                    now,
                )
                .await?;
            }
        }
    }
    for (item, raw) in marks::snapshot(&db, &account, EXPIRING).await? {
        let Ok(post) = serde_json::from_str::<Value>(&raw) else {
            marks::forget(&db, &account, EXPIRING, &item).await?;
            continue;
        };
        let Some(at) = time_ms(&post, "expiresAt") else {
            continue;
        };
        if at > now {
            continue;
        }
        if at >= fill.floor {
            found.push(Found {
                name: "fansly.posts.expired",
                dedup_key: keys::post_expired(&item),
                payload: post,
                at,
                order: item.parse().unwrap_or(0),
            });
        }
        marks::forget(&db, &account, EXPIRING, &item).await?;
    }
    Ok(())
}

/// The account's public profile (`account/me`): a change since the last
/// sweep is `fansly.profiles.updated`.
async fn profile(fill: &mut Fill<'_>, found: &mut Vec<Found>) -> Result<(), Stop> {
    if !fill.spend() {
        return Err(Stop::Allowance);
    }
    let account = fill.account.account_id.clone();
    let db = fill.deps.db.clone();
    let me = fill.deps.fansly.account_me(&fill.session).await?;
    let a = me.get("account").unwrap_or(&me);
    let id_or = |v: Option<&Value>| match v {
        Some(Value::Object(_)) => v.and_then(|o| o.get("id")).cloned().unwrap_or(Value::Null),
        Some(other) => other.clone(),
        None => Value::Null,
    };
    let now = now_ms();
    let profile = json!({
        "id": a.get("id").cloned().unwrap_or(Value::Null),
        "username": a.get("username").cloned().unwrap_or(Value::Null),
        "displayName": a.get("displayName").cloned().unwrap_or(Value::Null),
        "about": a.get("about").cloned().unwrap_or(Value::Null),
        "avatarId": id_or(a.get("avatarId").or(a.get("avatar"))),
        "bannerId": id_or(a.get("bannerId").or(a.get("banner"))),
    });
    let state = keys::digest(&profile);
    let before = marks::snapshot(&db, &account, PROFILE).await?;
    if before.get("me").is_some_and(|s| *s != state) {
        let mut payload = profile;
        payload["updatedAt"] = json!(now);
        let id = fill.account.fansly_id.clone();
        found.push(Found {
            name: "fansly.profiles.updated",
            dedup_key: keys::profile(&id, &state),
            payload,
            at: now,
            order: 0,
        });
    }
    marks::remember(&db, &account, PROFILE, "me", &state, now).await?;
    Ok(())
}
