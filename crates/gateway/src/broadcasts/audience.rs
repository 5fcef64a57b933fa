//! A broadcast's audience: checked when the broadcast is accepted (every
//! list, tier and user exists) and resolved to fans when it fires.

use std::collections::BTreeSet;

use fansly_upstream::{list_items_cursor, FanslyClient, Page, SubscriberStatus, UpstreamError};
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::accounts::throttle::patiently;
use crate::broadcasts::store::{Spec, MAX_PAGES, PAGE};
use crate::core::error::ApiError;
use crate::fansly::answers::array_at;

// ---------------------------------------------------------------------------
// Audience: checked when a broadcast is accepted, resolved when it fires.
// ---------------------------------------------------------------------------

/// Checks that every list, tier and user the audience names exists for this
/// creator: 404 naming the field and id otherwise.
pub async fn check_audience(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    spec: &Spec,
) -> Result<(), ApiError> {
    let up = |e| ApiError::upstream(&account.id, e);
    if !spec.list_ids.is_empty() || !spec.exclude_list_ids.is_empty() {
        let lists = fansly.lists(&account.session).await.map_err(up)?;
        let known = ids_of(&lists, None);
        for (field, ids) in [
            ("listIds", &spec.list_ids),
            ("excludeListIds", &spec.exclude_list_ids),
        ] {
            if let Some(id) = ids.iter().find(|id| !known.contains(*id)) {
                return Err(ApiError::NotFound(format!("{field}: list {id} not found")));
            }
        }
    }
    if !spec.tier_ids.is_empty() {
        let tiers = fansly
            .subscription_tiers(&account.session)
            .await
            .map_err(up)?;
        let known = ids_of(&tiers, None);
        if let Some(id) = spec.tier_ids.iter().find(|id| !known.contains(*id)) {
            return Err(ApiError::NotFound(format!(
                "tierIds: subscription tier {id} not found"
            )));
        }
    }
    for chunk in spec.user_ids.chunks(100) {
        let found = fansly
            .accounts_by_ids(&account.session, chunk)
            .await
            .map_err(up)?;
        let known = ids_of(&found, None);
        if let Some(id) = chunk.iter().find(|id| !known.contains(*id)) {
            return Err(ApiError::NotFound(format!(
                "userIds: Fansly user {id} not found"
            )));
        }
    }
    Ok(())
}

/// Adds the lists and tier of Fansly broadcast audience group `group_id`
/// (type 3) to `spec`: 404 when Fansly does not know it, 422 when it is
/// another kind of group.
pub async fn add_audience_group(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    group_id: &str,
    spec: &mut Spec,
) -> Result<(), ApiError> {
    let audience = fansly
        .broadcast_audience(&account.session, group_id)
        .await
        .map_err(|e| match &e {
            UpstreamError::Api { status: 404, .. } => {
                ApiError::NotFound(format!("groupId: broadcast group {group_id} not found"))
            }
            UpstreamError::Api {
                status: 500,
                details,
                ..
            } if details.starts_with("error getting group") => {
                ApiError::NotFound(format!("groupId: broadcast group {group_id} not found"))
            }
            _ => ApiError::upstream(&account.id, e),
        })?
        .ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "groupId: {group_id} is not a broadcast audience group (type 3)"
            ))
        })?;
    let merge = |into: &mut Vec<String>, from: Vec<String>| {
        for id in from {
            if !into.contains(&id) {
                into.push(id);
            }
        }
    };
    merge(&mut spec.list_ids, audience.include_lists);
    merge(&mut spec.exclude_list_ids, audience.exclude_lists);
    merge(&mut spec.tier_ids, audience.tier_ids);
    Ok(())
}

/// The `id`s of the objects in the array at `key` (or `value` itself).
pub fn ids_of(value: &Value, key: Option<&str>) -> BTreeSet<String> {
    key.map_or(Some(value), |k| value.get(k))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Every fan the audience names at this moment, sorted and once each:
/// members of the included lists, active subscribers of the tiers and the
/// named users, minus members of the excluded lists and the creator. The
/// error says why the audience cannot be resolved (the broadcast fails).
pub async fn resolve_audience(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    spec: &Spec,
) -> Result<Vec<String>, String> {
    let fail = |what: String| move |e: UpstreamError| format!("{what}: {e}");
    let mut fans: BTreeSet<String> = spec.user_ids.iter().cloned().collect();
    let list_members = |list_id: String| async move {
        // `/lists/itemsnew` pages by the last row's `sortId` (it has no
        // offset); an empty page ends the list.
        let mut members = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let items =
                patiently(|| fansly.list_items(&account.session, &list_id, after.as_deref()))
                    .await
                    .map_err(|e| match e {
                        UpstreamError::Api { status: 404, .. } => {
                            format!("list {list_id} no longer exists")
                        }
                        e => fail(format!("reading list {list_id}"))(e),
                    })?;
            let rows = items.as_array().cloned().unwrap_or_default();
            members.extend(
                rows.iter()
                    .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned)),
            );
            match list_items_cursor(&items) {
                // A cursor that does not move would repeat the page forever.
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => break,
            }
        }
        Ok::<_, String>(members)
    };
    for list in &spec.list_ids {
        fans.extend(list_members(list.clone()).await?);
    }
    for tier in &spec.tier_ids {
        for n in 0..MAX_PAGES {
            let page = Page {
                limit: PAGE,
                offset: n * PAGE,
            };
            let subs = patiently(|| {
                fansly.subscribers(
                    &account.session,
                    SubscriberStatus::Active,
                    Some(tier),
                    "",
                    &page,
                )
            })
            .await
            .map_err(fail(format!("reading the subscribers of tier {tier}")))?;
            let rows = array_at(&subs, "subscriptions");
            fans.extend(rows.iter().filter_map(|s| {
                s.get("subscriberId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }));
            if rows.len() < PAGE as usize {
                break;
            }
        }
    }
    for list in &spec.exclude_list_ids {
        for member in list_members(list.clone()).await? {
            fans.remove(&member);
        }
    }
    fans.remove(&account.fansly_id);
    Ok(fans.into_iter().collect())
}
