//! The frames behind the vendor events added after the first mapping
//! ([`super::mapping`] hands over every pair it does not know): post likes,
//! edits, counters and pins, story purchases, mutes and blocks, streams and
//! a chat's visibility. Codes are from JK's protocol notes (Jakan-Kink/
//! fansly-scraper, built from main.js `handleEvent`, verified live
//! 2026-04-15; /work/research/fansly-protocol.md §2); each arm says how sure
//! the meaning is.

use fansly_upstream::ws::ServiceEvent;
use serde_json::Value;

use crate::events::keys;
use crate::workers::relay::outcome::{changed_at, id_of, int, one, Outcome};

/// Maps a service event the first mapping does not know.
pub fn map(ev: &ServiceEvent, me: &str) -> Outcome {
    let (svc, kind) = (ev.service_id, ev.event_type);
    let payload = |name: &str| -> Result<&Value, Outcome> {
        ev.payload(name)
            .ok_or_else(|| Outcome::Malformed(format!("{svc}.{kind} without `{name}`")))
    };
    let field = |v: &Value, key: &str| -> Result<String, Outcome> {
        id_of(v, key).ok_or_else(|| Outcome::Malformed(format!("{svc}.{kind} without `{key}`")))
    };
    let mapped = (|| -> Result<Outcome, Outcome> {
        Ok(match (svc, kind) {
            // 1.2 like of a post (CONFIRMED code); the unlike (1.3) has no
            // vendor event.
            (1, 2) => {
                let like = payload("like")?;
                let id = field(like, "id")?;
                one("fansly.posts.liked", keys::post_like(&id), like)
            }
            (1, 3) => Outcome::Ignored,
            // 1.8 content edited, 1.4 counters (likes, replies, tips) moved
            // (CONFIRMED codes): both are "post updated"; one event per
            // distinct state, so the copy sent per wall collapses.
            (1, 8) => {
                let p = payload("post")?;
                let id = field(p, "id")?;
                // Named by `postId` too, as the counters' update is.
                let mut post = p.clone();
                post["postId"] = Value::String(id.clone());
                one(
                    "fansly.posts.updated",
                    keys::post_update(
                        8,
                        &id,
                        &keys::digest(p),
                        &changed_at(p, &["updatedAt", "editedAt"]),
                    ),
                    &post,
                )
            }
            (1, 4) => {
                let u = payload("updates")?;
                let id = id_of(u, "postId").or_else(|| id_of(u, "id"));
                let Some(id) = id else {
                    return Err(Outcome::Malformed("1.4 without `postId`".into()));
                };
                // Named by `id` too, as the edited post is.
                let mut counters = u.clone();
                counters["id"] = Value::String(id.clone());
                one(
                    "fansly.posts.updated",
                    keys::post_update(4, &id, &keys::digest(u), &changed_at(u, &["updatedAt"])),
                    &counters,
                )
            }
            // Wall membership and walls themselves: not vendor events.
            (1, 9 | 10 | 101 | 102) => Outcome::Ignored,
            // 10.2 / 10.100 a post pinned (CONFIRMED codes); unpinning and
            // the bulk reorder have no vendor event.
            (10, 2 | 100) => {
                let p = payload("pinnedPost")?;
                let post = field(p, "postId")?;
                let at = id_of(p, "createdAt").unwrap_or_default();
                one("fansly.posts.pinned", keys::post_pin(&post, &at), p)
            }
            (10, _) => Outcome::Ignored,
            // 32.7 a story (locked text) bought (CONFIRMED code; the order's
            // fields are INFERRED from 2.7's).
            (32, 7) => {
                let o = payload("order")?;
                let order = field(o, "orderId")?;
                let item = id_of(o, "storyId")
                    .or_else(|| id_of(o, "accountMediaId"))
                    .unwrap_or_default();
                if id_of(o, "correlationAccountId").is_some_and(|c| c != me) {
                    return Ok(Outcome::Ignored);
                }
                // Keyed by buyer and story, as the gap fill finds it in the
                // ledger (which names no order); the order when no buyer.
                let buyer = id_of(o, "accountId").unwrap_or(order);
                one(
                    "fansly.stories.purchased",
                    keys::story_order(&buyer, &item),
                    o,
                )
            }
            (32, _) => Outcome::Ignored,
            // 11.1 the account muted, blocked or released someone
            // `{accountId, ignoredId, ignoreFlags}` (CONFIRMED; flag meanings
            // 1 mute, 2 block INFERRED). The frame has no version: the key
            // carries its time when present, else the second it arrived, so
            // block → unblock → block are three events.
            (11, 1) => {
                let d = payload("data")?;
                if id_of(d, "accountId").is_some_and(|a| a != me) {
                    return Ok(Outcome::Ignored);
                }
                let target = field(d, "ignoredId")?;
                let flags = int(d, "ignoreFlags").unwrap_or(0);
                let at = changed_at(d, &["updatedAt", "createdAt"]);
                one(
                    "fansly.fans.ignore_updated",
                    keys::ignore(&target, flags, &at),
                    d,
                )
            }
            // 45.10 stream state (live/offline), 45.11 its permissions
            // (CONFIRMED codes).
            (45, 10 | 11) => {
                let st = payload("stream")?;
                let id = field(st, "id")?;
                one(
                    "fansly.streams.updated",
                    keys::stream(
                        kind,
                        &id,
                        &keys::digest(st),
                        &changed_at(st, &["updatedAt"]),
                    ),
                    st,
                )
            }
            (45, _) => Outcome::Ignored,
            // 4.9 the account's own settings of a chat changed; `hidden` is
            // its visibility (INFERRED: HUB-SPEC's group userSettings).
            // Ephemeral in the catalogue, so no key is needed.
            (4, 9) => {
                let c = payload("groupUserSettingsChangeEvent")?;
                one("fansly.chats.visibility_updated", String::new(), c)
            }
            _ => Outcome::Unknown,
        })
    })();
    mapped.unwrap_or_else(|o| o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(svc: i64, kind: i64, name: &str, payload: Value) -> String {
        let event = json!({"type": kind, name: payload});
        let ev = ServiceEvent {
            service_id: svc,
            event_type: kind,
            raw: event.to_string(),
            event,
        };
        match map(&ev, "me") {
            Outcome::Events(v) => v[0].dedup_key.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_state_returned_to_is_a_new_event_and_a_copy_is_not() {
        let edit = |content: &str, at: i64| {
            key(
                1,
                8,
                "post",
                json!({"id": "9", "content": content, "updatedAt": at}),
            )
        };
        // The copy sent per wall: one key.
        assert_eq!(edit("A", 1), edit("A", 1));
        // A → B → A: the second A is not the first.
        assert_ne!(edit("A", 1), edit("B", 2));
        assert_ne!(edit("A", 1), edit("A", 3));
        let stream = |status: i64, at: i64| {
            key(
                45,
                10,
                "stream",
                json!({"id": "5", "status": status, "updatedAt": at}),
            )
        };
        assert_ne!(stream(2, 10), stream(2, 30));
    }
}
