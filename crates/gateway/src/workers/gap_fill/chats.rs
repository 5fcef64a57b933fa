//! Gap fill of messages: the chat list sorted by latest message
//! (`messaging/groups`, `sortOrder=1`) down to the first chat whose last
//! message the previous complete fill already covered (the `chats` mark) or
//! that is older than the fill's floor; then each changed chat's messages,
//! newest first with the `before` cursor, down to the chat's own mark
//! (`chat:<groupId>`) or the floor.
//!
//! A message found is `fansly.messages.sent` or `.received` as on the socket
//! (by `senderId`), keyed [`keys::message`]; one deleted meanwhile is
//! `fansly.messages.deleted` ([`keys::message_deleted`]) instead.

use fansly_upstream::ids::snowflake_time_ms;
use fansly_upstream::GroupsQuery;
use serde_json::Value;

use crate::events::keys;
use crate::events::marks;
use crate::fansly::answers::array_at;
use crate::workers::gap_fill::fill::{id_of, time_ms, Advance, Fill, Found, Stop};

/// Chats per list page, messages per chat page (Fansly's own page sizes).
const GROUPS_PAGE: u32 = 50;
const MESSAGES_PAGE: u32 = 50;
const CHATS: &str = "chats";

fn chat_source(group: u64) -> String {
    format!("chat:{group}")
}

/// Finds the account's messages the socket missed.
pub async fn fill(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    let account_id = fill.account.account_id.clone();
    let db = &fill.deps.db;
    // One read for the list's mark (`chats`) and every chat's (`chat:…`).
    let chat_marks = marks::marks(db, &account_id, "chat").await?;
    let list_mark = chat_marks.get(CHATS).copied();
    // (group, its last message id) of every chat with news, newest first.
    let mut changed: Vec<(u64, u64)> = Vec::new();
    let mut newest: Option<u64> = None;
    let mut offset = 0;
    'pages: loop {
        fill.spend()?;
        let page = fill
            .deps
            .fansly
            .messaging_groups(
                &fill.session,
                &GroupsQuery {
                    limit: GROUPS_PAGE,
                    offset,
                    sort_order: 1,
                    flags: 0,
                    search: String::new(),
                },
            )
            .await?;
        // The partners' profiles come with the list: `senderData` for free.
        if let Some(accounts) = page
            .pointer("/aggregationData/accounts")
            .and_then(Value::as_array)
        {
            for a in accounts {
                fill.deps.profiles.remember(&account_id, a);
            }
        }
        let rows = array_at(&page, "data");
        for row in &rows {
            let (Some(group), Some(last)) = (id_of(row, "groupId"), id_of(row, "lastMessageId"))
            else {
                continue;
            };
            // The list is sorted by latest message: past these, nothing is new.
            if snowflake_time_ms(last) < fill.floor || list_mark.is_some_and(|m| last as i64 <= m) {
                break 'pages;
            }
            newest = newest.max(Some(last));
            let mark = chat_marks.get(&chat_source(group)).copied();
            if mark.is_none_or(|m| (last as i64) > m) {
                changed.push((group, last));
            }
        }
        if rows.len() < GROUPS_PAGE as usize {
            break;
        }
        offset += GROUPS_PAGE;
    }
    for (group, last) in changed {
        let mark = chat_marks.get(&chat_source(group)).copied();
        messages_after(fill, group, mark, found).await?;
        advances.push(Advance::Mark {
            source: chat_source(group),
            mark: last as i64,
        });
    }
    // Only a complete pass may move the list mark: a chat left out (the
    // allowance ran out) must still look changed next time.
    if let Some(newest) = newest {
        advances.push(Advance::Mark {
            source: CHATS.into(),
            mark: newest as i64,
        });
    }
    Ok(())
}

/// The chat's messages newer than `mark` and the floor, newest first.
async fn messages_after(
    fill: &mut Fill<'_>,
    group: u64,
    mark: Option<i64>,
    found: &mut Vec<Found>,
) -> Result<(), Stop> {
    let me = fill.account.fansly_id.clone();
    let group_id = group.to_string();
    let mut before: Option<String> = None;
    loop {
        fill.spend()?;
        let page = fill
            .deps
            .fansly
            .messages(&fill.session, &group_id, before.as_deref(), MESSAGES_PAGE)
            .await?;
        let messages = array_at(&page, "messages");
        let mut oldest = None;
        for m in &messages {
            let Some(id) = id_of(m, "id") else { continue };
            // The id's own time is exact to the millisecond; REST's
            // `createdAt` is whole seconds.
            let at = if id > 0 {
                snowflake_time_ms(id)
            } else {
                time_ms(m, "createdAt").unwrap_or_default()
            };
            if mark.is_some_and(|k| id as i64 <= k) || at < fill.floor {
                return Ok(());
            }
            oldest = Some(id);
            found.push(message_event(m, id, at, &me));
        }
        match oldest {
            Some(id) if messages.len() >= MESSAGES_PAGE as usize => {
                before = Some(id.to_string());
            }
            _ => return Ok(()),
        }
    }
}

/// The event the socket would have delivered for message `m`.
fn message_event(m: &Value, id: u64, at: i64, me: &str) -> Found {
    let id_s = id.to_string();
    let deleted = m.get("deletedAt").is_some_and(|d| !d.is_null());
    let sender = m.get("senderId").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let (name, dedup_key) = if deleted {
        ("fansly.messages.deleted", keys::message_deleted(&id_s))
    } else if sender.as_deref() == Some(me) {
        ("fansly.messages.sent", keys::message(&id_s))
    } else {
        ("fansly.messages.received", keys::message(&id_s))
    };
    Found {
        name,
        dedup_key,
        payload: m.clone(),
        at,
        order: id,
    }
}
