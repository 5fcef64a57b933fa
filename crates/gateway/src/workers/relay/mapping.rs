//! Fansly service events → the vendor's `fansly.*` events (essentials.md
//! §10), with the dedup key that identifies the upstream occurrence, so a
//! frame Fansly sends again (after a reconnect, or once per wall) is one
//! event.
//!
//! Payloads are the inner Fansly object unchanged. Which side of an event
//! concerns the connected creator is decided by ids: a message is `sent`
//! when its `senderId` is the account's own Fansly id, a follow counts when
//! it is *of* the account, a tip when the account receives it.

use fansly_upstream::ws::ServiceEvent;
use serde_json::Value;

use crate::events::keys;
use crate::workers::relay::mapping_more as more;
use crate::workers::relay::outcome::{id_of, int, one};
pub use crate::workers::relay::outcome::{Mapped, Outcome};

/// Maps one service event for the account whose Fansly id is `me`.
pub fn map(ev: &ServiceEvent, me: &str) -> Outcome {
    let (svc, kind) = (ev.service_id, ev.event_type);
    let key_for = |name: &str| -> Result<&Value, Outcome> {
        ev.payload(name)
            .ok_or_else(|| Outcome::Malformed(format!("{svc}.{kind} without `{name}`")))
    };
    macro_rules! payload {
        ($name:expr) => {
            match key_for($name) {
                Ok(p) => p,
                Err(o) => return o,
            }
        };
    }
    macro_rules! id {
        ($p:expr, $key:expr) => {
            match id_of($p, $key) {
                Some(id) => id,
                None => return Outcome::Malformed(format!("{svc}.{kind} without `{}`", $key)),
            }
        };
    }
    let is_me = |p: &Value, key: &str| id_of(p, key).as_deref() == Some(me);

    match (svc, kind) {
        // Messages.
        (5, 1) => {
            let m = payload!("message");
            let id = id!(m, "id");
            let name = if is_me(m, "senderId") {
                "fansly.messages.sent"
            } else {
                "fansly.messages.received"
            };
            one(name, keys::message(&id), m)
        }
        (5, 10) => {
            let m = payload!("message");
            let id = id!(m, "id");
            one("fansly.messages.deleted", keys::message_deleted(&id), m)
        }
        (5, 3) | (5, 4) => {
            let like = payload!("like");
            let id = id!(like, "id");
            let name = if kind == 3 {
                "fansly.messages.reaction_added"
            } else {
                "fansly.messages.reaction_removed"
            };
            one(name, format!("5.{kind}:{id}"), like)
        }
        (5, 22) => {
            let t = payload!("typingAnnounceEvent");
            let who = id!(t, "accountId");
            if who == me {
                return Outcome::Ignored;
            }
            let group = id_of(t, "groupId").unwrap_or_default();
            let at = int(t, "lastAnnounce").unwrap_or_default();
            one("fansly.users.typing", format!("5.22:{who}:{group}:{at}"), t)
        }
        // Read receipts: type 2 (read) and 3 (delivered and read); a
        // delivery-only ack (1) is not a read (INFERRED).
        (4, 2) => {
            let ack = payload!("ackCommand");
            if !matches!(int(ack, "type"), Some(2 | 3)) {
                return Outcome::Ignored;
            }
            let group = id!(ack, "groupId");
            let user = id!(ack, "userId");
            let mut ids: Vec<String> = ack
                .get("messageIds")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            ids.sort();
            one(
                "fansly.messages.read",
                format!("4.2:{group}:{user}:{}", ids.join(",")),
                ack,
            )
        }
        (5, 2) | (4, 6..=8) => Outcome::Ignored,
        // Followers: only follows of this account (not the ones it makes).
        (3, 2) | (3, 3) => {
            let f = payload!("follow");
            let id = id!(f, "id");
            if !is_me(f, "accountId") {
                return Outcome::Ignored;
            }
            let name = if kind == 2 {
                "fansly.followers.new"
            } else {
                "fansly.followers.removed"
            };
            one(name, keys::follow(kind, &id), f)
        }
        // Subscriptions: status 2 is the transient pending state before the
        // confirmation (status 3) and is not relayed. A first subscription is
        // `subscriptionStreak == 0 && subscriptionTotalDays == 0`
        // (essentials.md §10); any other confirmation is a renewal. Status 4
        // and 5 end a subscription (INFERRED codes, spec §5.4).
        (15, 5) | (15, 102) => {
            let s = payload!("subscription");
            let id = id!(s, "id");
            if id_of(s, "accountId").is_some_and(|a| a != me) {
                return Outcome::Ignored;
            }
            let version = int(s, "version").unwrap_or(0);
            match int(s, "status") {
                Some(3) => {
                    let first = int(s, "subscriptionStreak").unwrap_or(0) == 0
                        && int(s, "subscriptionTotalDays").unwrap_or(0) == 0;
                    let name = if first {
                        "fansly.subscriptions.new"
                    } else {
                        "fansly.subscriptions.renewed"
                    };
                    one(name, keys::subscription_confirmed(&id, version), s)
                }
                Some(4 | 5) => one(
                    "fansly.subscriptions.expired",
                    keys::subscription_ended(&id, version),
                    s,
                ),
                _ => Outcome::Ignored,
            }
        }
        // Money.
        (7, 1) => {
            let tip = payload!("tip");
            let id = id!(tip, "id");
            if !is_me(tip, "receiverId") {
                return Outcome::Ignored;
            }
            one("fansly.tips.received", keys::tip(&id), tip)
        }
        (7, 101) => Outcome::Ignored,
        (6, 3) => {
            let tx = payload!("transaction");
            let id = id!(tx, "id");
            let mut events = vec![Mapped {
                name: "fansly.transactions.new",
                dedup_key: keys::transaction(&id),
                payload: tx.clone(),
            }];
            // Type 58000 is a billing debit (JK's protocol notes; INFERRED
            // that a payout leaving the balance is booked as one).
            if int(tx, "type") == Some(58000) {
                events.push(Mapped {
                    name: "fansly.payouts.debited",
                    dedup_key: keys::payout_debited(&id),
                    payload: tx.clone(),
                });
            }
            Outcome::Events(events)
        }
        // Wallet updates are ordered by `walletVersion`; one event per version.
        (6, 2) => {
            let w = payload!("wallet");
            let id = id!(w, "id");
            let version = int(w, "walletVersion").unwrap_or(0);
            one("fansly.wallets.updated", format!("6.2:{id}:{version}"), w)
        }
        // A purchase of this account's media: one event per item.
        (2, 7) => {
            let o = payload!("order");
            let order = id!(o, "orderId");
            let item = id!(o, "accountMediaId");
            if id_of(o, "correlationAccountId").is_some_and(|c| c != me) {
                return Outcome::Ignored;
            }
            // Keyed by buyer and item, as the gap fill finds the sale in the
            // ledger (which names no order); the order when no buyer.
            let buyer = id_of(o, "accountId").unwrap_or(order);
            one(
                "fansly.media.purchased",
                keys::media_order(&buyer, &item),
                o,
            )
        }
        (2, 8) => Outcome::Ignored,
        (2, 2) => {
            let like = payload!("like");
            let id = id!(like, "id");
            one("fansly.media.liked", format!("2.2:{id}"), like)
        }
        (16, 20) | (16, 21) => {
            let p = payload!("payoutRequest");
            let id = id!(p, "id");
            if kind == 20 {
                one("fansly.payouts.created", keys::payout_created(&id), p)
            } else {
                let version = int(p, "version").unwrap_or(0);
                one(
                    "fansly.payouts.updated",
                    keys::payout_updated(&id, version),
                    p,
                )
            }
        }
        // Other payment frames (card charges, wallet credits of the fan side).
        (16, _) => Outcome::Ignored,
        // Posts: Fansly sends one frame per wall; the post id collapses them.
        (1, 1) | (1, 5) => {
            let p = payload!("post");
            let id = id!(p, "id");
            let name = if kind == 1 {
                "fansly.posts.created"
            } else {
                "fansly.posts.deleted"
            };
            one(name, keys::post(kind, &id), p)
        }
        (12, 2) => {
            let a = payload!("account");
            let id = id!(a, "id");
            let version = int(a, "version").unwrap_or(0);
            one("fansly.accounts.updated", format!("12.2:{id}:{version}"), a)
        }
        // Notification mirrors (9.x) duplicate the events above, except the
        // two families nothing else announces; online status (8.x) is
        // presence the vendor does not relay.
        (9, 1) => {
            let n = payload!("notification");
            let id = id!(n, "id");
            match int(n, "type") {
                // "Fansly Alerts": admin notices (CONFIRMED client labels).
                // Shaped as the gateway's own alerts, so one event has one
                // shape; Fansly's notification rides in `metadata`.
                Some(24001..=24999) => one(
                    "fansly.accounts.alert",
                    keys::alert(&id),
                    &serde_json::json!({
                        "id": id,
                        "accountId": me,
                        "type": "fansly_alert",
                        "metadata": {"notification": n},
                        "createdAt": n.get("createdAt").cloned().unwrap_or(Value::Null),
                    }),
                ),
                // A reply to one of the account's posts (the code is
                // CONFIRMED; that it is the vendor's "commented" is INFERRED).
                Some(1004) => one("fansly.posts.commented", keys::post_comment(&id), n),
                _ => Outcome::Ignored,
            }
        }
        (9, _) | (8, _) => Outcome::Ignored,
        _ => more::map(ev, me),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(svc: i64, kind: i64, key: &str, payload: Value) -> ServiceEvent {
        let event = json!({"type": kind, key: payload});
        ServiceEvent {
            service_id: svc,
            event_type: kind,
            raw: event.to_string(),
            event,
        }
    }

    fn names(o: Outcome) -> Vec<(&'static str, String)> {
        match o {
            Outcome::Events(v) => v.into_iter().map(|m| (m.name, m.dedup_key)).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn messages_are_sent_or_received_by_sender() {
        let m = |sender: &str| ev(5, 1, "message", json!({"id": "10", "senderId": sender}));
        assert_eq!(
            names(map(&m("fan"), "me")),
            vec![("fansly.messages.received", "5.1:10".to_owned())]
        );
        assert_eq!(
            names(map(&m("me"), "me")),
            vec![("fansly.messages.sent", "5.1:10".to_owned())]
        );
    }

    #[test]
    fn subscriptions_new_renewed_expired_and_pending_suppressed() {
        let s = |status, streak, days, version| {
            ev(
                15,
                5,
                "subscription",
                json!({"id": "7", "accountId": "me", "status": status, "subscriptionStreak": streak,
                       "subscriptionTotalDays": days, "version": version}),
            )
        };
        assert_eq!(map(&s(2, 0, 0, 1), "me"), Outcome::Ignored);
        assert_eq!(
            names(map(&s(3, 0, 0, 1), "me"))[0].0,
            "fansly.subscriptions.new"
        );
        assert_eq!(
            names(map(&s(3, 1, 30, 2), "me"))[0].0,
            "fansly.subscriptions.renewed"
        );
        assert_eq!(
            names(map(&s(5, 1, 30, 2), "me"))[0].0,
            "fansly.subscriptions.expired"
        );
    }

    #[test]
    fn only_what_concerns_the_account_is_relayed() {
        let follow = ev(
            3,
            2,
            "follow",
            json!({"id": "1", "followerId": "me", "accountId": "x"}),
        );
        assert_eq!(map(&follow, "me"), Outcome::Ignored);
        let tip = ev(
            7,
            1,
            "tip",
            json!({"id": "1", "senderId": "me", "receiverId": "x"}),
        );
        assert_eq!(map(&tip, "me"), Outcome::Ignored);
        let read = ev(
            4,
            2,
            "ackCommand",
            json!({"groupId": "g", "userId": "u", "type": 1}),
        );
        assert_eq!(map(&read, "me"), Outcome::Ignored);
    }

    #[test]
    fn unknown_and_malformed_are_told_apart() {
        assert_eq!(map(&ev(99, 1, "x", json!({})), "me"), Outcome::Unknown);
        assert!(matches!(
            map(&ev(5, 1, "nope", json!({})), "me"),
            Outcome::Malformed(_)
        ));
        assert!(matches!(
            map(&ev(5, 1, "message", json!({"content": "no id"})), "me"),
            Outcome::Malformed(_)
        ));
    }
}
