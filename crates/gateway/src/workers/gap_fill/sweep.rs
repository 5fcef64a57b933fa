//! The sweep's REST diffs, for what Fansly announces no event for: a post
//! reaching its expiry (it just leaves the timeline) and the account's own
//! public profile changing (12.2 says the account changed, not that its
//! profile did). What was last seen is kept in `gap_snapshots`; the first
//! look at an account only remembers.

use serde_json::{json, Value};

use crate::core::time::now_ms;
use crate::events::{keys, marks};
use crate::fansly::answers::array_at;
use crate::workers::gap_fill::fill::{id_of, time_ms, Advance, Fill, Found, Stop};

const EXPIRING: &str = "post_expiry";
const PROFILE: &str = "profile";

pub async fn fill(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    expired_posts(fill, found, advances).await?;
    profile(fill, found, advances).await
}

/// Posts with an expiry are remembered as seen on the first timeline page;
/// one whose expiry has passed is `fansly.posts.expired`, once. What is
/// remembered or forgotten is written down by the run after the events are
/// recorded, so the snapshot is worked on in memory here.
async fn expired_posts(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    fill.spend()?;
    let account = fill.account.account_id.clone();
    let mut seen = marks::snapshot(&fill.deps.db, &account, EXPIRING).await?;
    let page = fill
        .deps
        .fansly
        .timeline(&fill.session, &fill.account.fansly_id, None, None, None)
        .await?;
    let now = now_ms();
    let posts = array_at(&page, "posts");
    let remember = |seen: &mut std::collections::HashMap<String, String>,
                    advances: &mut Vec<Advance>,
                    p: &Value| {
        if let Some(id) = id_of(p, "id") {
            let (item, value) = (id.to_string(), p.to_string());
            seen.insert(item.clone(), value.clone());
            advances.push(Advance::Remember {
                source: EXPIRING,
                item,
                value,
            });
        }
    };
    for p in &posts {
        if time_ms(p, "expiresAt").is_some() {
            remember(&mut seen, advances, p);
        }
    }
    // Remembered posts gone from the first page: expired, deleted or just
    // pushed down. `post?ids=` answers the account's own posts either way,
    // with their expiry as it now stands.
    let on_page: std::collections::HashSet<String> = posts
        .iter()
        .filter_map(|p| id_of(p, "id").map(|i| i.to_string()))
        .collect();
    let missing: Vec<String> = seen
        .keys()
        .filter(|i| !on_page.contains(*i))
        .take(100)
        .cloned()
        .collect();
    if !missing.is_empty() {
        fill.spend()?;
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
            remember(&mut seen, advances, p);
        }
    }
    for (item, raw) in seen {
        let Ok(post) = serde_json::from_str::<Value>(&raw) else {
            advances.push(Advance::Forget {
                source: EXPIRING,
                item,
            });
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
        advances.push(Advance::Forget {
            source: EXPIRING,
            item,
        });
    }
    Ok(())
}

/// The account's public profile (`account/me`): a change since the last
/// sweep is `fansly.profiles.updated`.
async fn profile(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    fill.spend()?;
    let account = fill.account.account_id.clone();
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
    // What was last seen: `<digest>` (older rows) or `<digest>:<since>`,
    // `since` being when that profile was first seen.
    let before = marks::snapshot(&fill.deps.db, &account, PROFILE).await?;
    let last = before.get("me").map(|v| match v.split_once(':') {
        Some((d, since)) => (d.to_owned(), since.parse::<i64>().unwrap_or(0)),
        None => (v.clone(), 0),
    });
    match last {
        Some((digest, _)) if digest == state => return Ok(()),
        Some((_, since)) => {
            let mut payload = profile;
            payload["updatedAt"] = json!(now);
            let id = fill.account.fansly_id.clone();
            found.push(Found {
                name: "fansly.profiles.updated",
                dedup_key: keys::profile(&id, &state, since),
                payload,
                at: now,
                order: 0,
            });
        }
        None => {}
    }
    advances.push(Advance::Remember {
        source: PROFILE,
        item: "me".into(),
        value: format!("{state}:{now}"),
    });
    Ok(())
}
