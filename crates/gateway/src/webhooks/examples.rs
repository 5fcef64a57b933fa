//! An example payload per event type: Fansly-native objects as the
//! websocket carries them (fansly-upstream.md §10.4), with Fansly's
//! conventions — snowflake ids as strings, money in mills, `type` fields as
//! integer enums, seconds or milliseconds per field. Shapes beyond the
//! documented keys are INFERRED.

use serde_json::{json, Value};

const CREATOR: &str = "720167541418237953";
const FAN: &str = "720419390651346944";
const GROUP: &str = "720709197191393280";
const MESSAGE: &str = "720752212945612800";
const POST: &str = "720801122334455667";
const MEDIA: &str = "720800011122233344";
const WALLET: &str = "720170000000000001";
/// 2026-04-15T04:06:30Z.
const SECS: i64 = 1_776_225_990;
const MS: i64 = SECS * 1000;

fn message(content: &str, sender: &str) -> Value {
    json!({
        "id": MESSAGE,
        "type": 1,
        "content": content,
        "groupId": GROUP,
        "senderId": sender,
        "inReplyTo": "",
        "createdAt": SECS as f64 + 0.786,
        "attachments": [],
        "embeds": [],
        "interactions": [
            {"groupId": GROUP, "userId": CREATOR, "readAt": 0, "deliveredAt": 0, "messageId": MESSAGE}
        ]
    })
}

fn post() -> Value {
    json!({
        "id": POST,
        "accountId": CREATOR,
        "content": "New set is up",
        "fypFlags": 0,
        "inReplyTo": null,
        "inReplyToRoot": null,
        "replyPermissionFlags": null,
        "createdAt": SECS,
        "expiresAt": null,
        "attachments": [{"postId": POST, "pos": 0, "contentType": 1, "contentId": MEDIA}],
        "wallIds": ["720167541418237954"],
        "likeCount": 12,
        "replyCount": 3,
        "tipAmount": 0,
        "pinned": 0
    })
}

fn subscription(status: i64, streak: i64, total_days: i64) -> Value {
    json!({
        "id": "720900000000000010",
        "historyId": "720900000000000011",
        "subscriberId": FAN,
        "accountId": CREATOR,
        "subscriptionTierId": "720167541418237960",
        "status": status,
        "version": 3,
        "billingCycle": 30,
        "price": 9990,
        "renewPrice": 9990,
        "autoRenew": 1,
        "createdAt": MS,
        "updatedAt": MS,
        "endsAt": MS + 30 * 86_400_000,
        "subscriptionStreak": streak,
        "subscriptionTotalDays": total_days
    })
}

fn account() -> Value {
    json!({
        "id": "fansly_acct_123",
        "display_name": "My Fansly",
        "fansly_id": CREATOR,
        "fansly_username": "tester",
        "is_authenticated": true,
        "authentication_progress": "authenticated",
        "needs_code": false,
        "last_error": null,
        "proxy": null,
        "fansly_user_data": {"id": CREATOR, "username": "tester", "displayName": "My Fansly"}
    })
}

fn payout(status: i64, version: i64) -> Value {
    json!({
        "id": "720950000000000001",
        "accountId": CREATOR,
        "walletId": WALLET,
        "amount": 250_000,
        "status": status,
        "version": version,
        "createdAt": MS,
        "updatedAt": MS
    })
}

fn transaction(kind: i64) -> Value {
    json!({
        "id": "720960000000000001",
        "type": kind,
        "originWalletId": "720419390651346999",
        "destinationWalletId": WALLET,
        "status": 2,
        "amount": 5_000,
        "correlationId": "720960000000000002",
        "createdAt": MS
    })
}

/// The payload of `name` (a catalog name), or `None` for unknown names.
pub fn payload(name: &str) -> Option<Value> {
    let p = match name {
        "fansly.messages.received" => {
            let mut m = message("hi! loved the new set", FAN);
            m["senderData"] = json!({
                "available": true,
                "id": FAN,
                "username": "fan1",
                "displayName": "Fan One"
            });
            m
        }
        "fansly.messages.sent" => message("thank you!", CREATOR),
        "fansly.messages.deleted" => {
            let mut m = message("oops", FAN);
            m["deletedAt"] = json!(SECS + 60);
            m
        }
        "fansly.messages.read" => json!({
            "groupId": GROUP,
            "messageIds": [MESSAGE],
            "userId": FAN,
            "userReadReceiptsEnabled": true,
            "type": 2,
            "recipients": [{"userId": CREATOR, "readReceiptsEnabled": true}]
        }),
        "fansly.messages.reaction_added" | "fansly.messages.reaction_removed" => json!({
            "id": "720752212945612899",
            "accountId": FAN,
            "messageId": MESSAGE,
            "type": 1,
            "groupId": GROUP
        }),
        "fansly.users.typing" => json!({
            "accountId": FAN,
            "groupId": GROUP,
            "lastAnnounce": MS
        }),
        "fansly.chats.visibility_updated" => json!({
            "groupId": GROUP,
            "userId": CREATOR,
            "userSettings": {"hidden": true},
            "type": 1
        }),
        "fansly.posts.created" => post(),
        // A content edit carries the post, a counter change only the
        // counters; both name the post by `id` and `postId`.
        "fansly.posts.updated" => json!({
            "id": POST,
            "postId": POST,
            "likeCount": 13,
            "replyCount": 3,
            "tipAmount": 0
        }),
        "fansly.posts.deleted" => json!({"id": POST, "accountId": CREATOR, "deletedAt": SECS}),
        "fansly.posts.pinned" => json!({
            "postId": POST,
            "accountId": CREATOR,
            "pos": 0,
            "createdAt": MS
        }),
        "fansly.posts.expired" => {
            let mut p = post();
            p["expiresAt"] = json!(SECS);
            p
        }
        // Fansly's notification of the reply (type 1004): the account it
        // went to, the reply's author (`senderId`) and the reply itself.
        "fansly.posts.commented" => json!({
            "id": "720801122334455700",
            "type": 1004,
            "accountId": CREATOR,
            "correlationId": "720801122334455699",
            "postId": POST,
            "senderId": FAN,
            "content": "gorgeous",
            "createdAt": MS
        }),
        "fansly.posts.liked" => json!({
            "id": "720801122334455701",
            "postId": POST,
            "accountId": FAN,
            "createdAt": MS
        }),
        "fansly.media.liked" => json!({
            "id": "720800011122233400",
            "accountId": FAN,
            "accountMediaId": MEDIA,
            "createdAt": MS
        }),
        "fansly.media.purchased" => json!({
            "orderId": "720970000000000001",
            "accountMediaId": MEDIA,
            "correlationAccountId": CREATOR,
            "accountId": FAN,
            "type": 1
        }),
        "fansly.stories.purchased" => json!({
            "orderId": "720970000000000002",
            "type": 1,
            "storyId": "720980000000000001",
            "accountId": FAN,
            "correlationAccountId": CREATOR,
            "price": 3_000,
            "createdAt": MS
        }),
        "fansly.subscriptions.new" => subscription(3, 0, 0),
        "fansly.subscriptions.renewed" => subscription(3, 2, 60),
        "fansly.subscriptions.expired" => json!({
            "id": "720900000000000010",
            "subscriberId": FAN,
            "accountId": CREATOR,
            "status": 4
        }),
        "fansly.followers.new" | "fansly.followers.removed" => json!({
            "id": "720990000000000001",
            "followerId": FAN,
            "accountId": CREATOR,
            "createdAt": MS
        }),
        // `ignoreFlags`: 1 muted, 2 blocked, 0 released (INFERRED).
        "fansly.fans.ignore_updated" => json!({
            "accountId": CREATOR,
            "ignoredId": FAN,
            "ignoreFlags": 1,
            "updatedAt": MS
        }),
        "fansly.wallets.updated" => json!({
            "id": WALLET,
            "accountId": CREATOR,
            "type": 2,
            "balance": 1_234_560,
            "balance64": "1234560",
            "flags": 0,
            "walletVersion": 42,
            "updatedAt": MS
        }),
        "fansly.transactions.new" => transaction(14001),
        "fansly.tips.received" => json!({
            "id": "720960000000000004",
            "senderId": FAN,
            "receiverId": CREATOR,
            "amount": 5_000,
            "message": "for the new set",
            "senderTransactionId": "720960000000000005",
            "receiverTransactionId": "720960000000000006",
            "createdAt": MS
        }),
        "fansly.payouts.created" => payout(1, 1),
        "fansly.payouts.updated" => payout(2, 2),
        "fansly.payouts.debited" => transaction(58000),
        "fansly.profiles.updated" => json!({
            "id": CREATOR,
            "username": "tester",
            "displayName": "My Fansly",
            "about": "new bio",
            "avatarId": "720100000000000001",
            "bannerId": "720100000000000002",
            "updatedAt": MS
        }),
        "fansly.streams.updated" => json!({
            "id": "721000000000000001",
            "accountId": CREATOR,
            "status": 2,
            "title": "Live now",
            "updatedAt": MS
        }),
        // Fansly's 12.2 carries the fields that changed, with a version.
        "fansly.accounts.updated" => json!({
            "id": CREATOR,
            "displayName": "My Fansly",
            "version": 17,
            "updatedAt": MS
        }),
        // `type`: `needs_reconnect` (the gateway can no longer renew the
        // session) or `fansly_alert` (a notice from Fansly, its
        // notification in `metadata.notification`).
        "fansly.accounts.alert" => json!({
            "id": "alert_6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
            "accountId": CREATOR,
            "type": "needs_reconnect",
            "metadata": {
                "reason": "Fansly refused the session and no password is stored; connect the account again",
                "account_id": "fansly_acct_123"
            },
            "createdAt": MS
        }),
        "fansly.accounts.connected" => account(),
        "fansly.accounts.disconnected" => {
            let mut a = account();
            a["is_authenticated"] = json!(false);
            a
        }
        "fansly.accounts.authentication_failed" => {
            let mut a = account();
            a["is_authenticated"] = json!(false);
            a["authentication_progress"] = json!("failed");
            a["last_error"] = json!("Fansly refused the login: invalid username or password");
            a
        }
        "fansly.accounts.otp_code_required" => {
            let mut a = account();
            a["is_authenticated"] = json!(false);
            a["authentication_progress"] = json!("challenge-email");
            a["needs_code"] = json!(true);
            a
        }
        _ => return None,
    };
    Some(p)
}

#[cfg(test)]
mod tests {
    use crate::events::catalog::CATALOG;

    #[test]
    fn every_event_type_has_an_example() {
        for t in CATALOG {
            let p = super::payload(t.name).unwrap_or_else(|| panic!("{}", t.name));
            assert!(p.is_object(), "{}", t.name);
        }
    }
}
