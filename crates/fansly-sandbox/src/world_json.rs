//! How Fansly renders the world's accounts and DM groups: `/account`
//! lookups, `account/me` and the group object `POST /group` answers. Kept
//! apart from `world.rs`, which holds the state and its rules.

use serde_json::{json, Value};

use crate::business::DAY_MS;
use crate::world::{now_ms, Account, Group, World};

impl World {
    /// An account as `/account?usernames=` and `/account?ids=` render it.
    pub fn account_json(&self, a: &Account) -> Value {
        let id = a.id.to_string();
        json!({
            "id": id,
            "username": a.username,
            "displayName": a.display_name,
            "flags": if a.creator { 18 } else { 0 },
            "version": 3,
            "createdAt": a.created_at_ms,
            "followCount": self.business(a.id).follows.len(),
            "subscriberCount": self.business(a.id).subscriptions.iter().filter(|s| s.active).count(),
            "permissions": {"accountPermissionFlags": {"flags": if a.creator { 2 } else { 0 }}},
            "timelineStats": {
                "accountId": id,
                "imageCount": 0,
                "videoCount": 0,
                "bundleCount": 0,
                "bundleImageCount": 0,
                "bundleVideoCount": 0,
                "fetchedAt": a.created_at_ms
            },
            "mediaStoryState": {
                "accountId": id,
                "status": 2,
                "storyCount": 0,
                "version": 1,
                "createdAt": a.created_at_ms,
                "updatedAt": a.created_at_ms,
                "hasActiveStories": false
            },
            "statusId": 1,
            "lastSeenAt": last_seen(a),
            "profileAccessFlags": 0,
            "profileFlags": 0,
            "about": "",
            "location": "",
            "profileSocials": [],
            "profileBadges": [],
            "following": false,
            "accountMediaLikes": 0,
            "hasMainWall": a.creator,
            "walls": if a.creator {
                json!(self.content.walls_json(a.id))
            } else {
                json!([])
            },
            "avatar": null,
            "banner": null
        })
    }

    /// `account/me` adds the private fields a creator sees of themself.
    pub fn me_json(&self, a: &Account) -> Value {
        let mut v = self.account_json(a);
        if let Value::Object(m) = &mut v {
            m.insert("email".into(), json!(a.email));
            let b = self.business(a.id);
            m.insert(
                "earningsWallet".into(),
                json!({"id": (a.id + 2).to_string(), "balance": b.available_balance(now_ms())}),
            );
            let tiers: Vec<Value> = (0..b.tiers.len()).map(|i| b.tier_json(i)).collect();
            m.insert("subscriptionTiers".into(), json!(tiers));
        }
        json!({ "account": v })
    }

    /// A DM group exactly in the shape `POST /group` answers (create-chat.md).
    pub fn group_json(&self, g: &Group) -> Value {
        let gid = g.id.to_string();
        let partner = g.partner.to_string();
        let dm_flags = json!([
            {
                "id": g.dm_flag_ids[0].to_string(),
                "accountId": partner,
                "type": 0,
                "flags": 2,
                "metadata": "",
                "verificationFlags": 0,
                "verificationMetadata": "{}"
            },
            {
                "id": g.dm_flag_ids[1].to_string(),
                "accountId": partner,
                "type": 0,
                "flags": 4,
                "metadata": "{\"4\":\"{\\\"subscriptionTierId\\\":\\\"\\\"}\"}",
                "verificationFlags": 0,
                "verificationMetadata": "{\"4\":\"{\\\"errors\\\":[]}\"}"
            }
        ]);
        json!({
            "users": [
                {
                    "userId": g.created_by.to_string(),
                    "permissionFlags": 65535,
                    "userSettings": {"hidden": 1},
                    "groupId": gid
                },
                {
                    "userId": partner,
                    "permissionFlags": 65535,
                    "userSettings": {"hidden": 1},
                    "groupId": gid,
                    "dmPermissionFlags": dm_flags
                }
            ],
            "recipients": [],
            "lastMessage": self
                .messaging
                .last_message(g.id)
                .map(|m| self.messaging.message_json(m)),
            "userSettings": null,
            "type": 1,
            "createdBy": g.created_by.to_string(),
            "groupFlagsMetadata": "",
            "id": gid,
            "permissionFlags": [],
            "hasDmPermissionFlags": false,
            "dmPermissionFlags": dm_flags,
            "accountDmPermissionFlags": {"flags": 0, "metadata": "{}"}
        })
    }
}

/// When an account was last online: creators just now; each fan at a fixed
/// distance from now (about one in ten within the last ten minutes, the others
/// up to thirty days ago), so "online" filters have something to find.
fn last_seen(a: &Account) -> i64 {
    let ago = if a.creator {
        0
    } else if a.id.is_multiple_of(10) {
        (a.id >> 8) % 600_000
    } else {
        (a.id >> 8) % (30 * DAY_MS as u64)
    };
    now_ms() - ago as i64
}
