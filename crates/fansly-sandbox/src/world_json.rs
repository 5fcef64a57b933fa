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
            "avatar": profile_image(a, ProfileImage::Avatar),
            "banner": profile_image(a, ProfileImage::Banner)
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

    /// A DM group as `GET /group/{id}` answers it (the vendor's Show Chat
    /// example, fansly-upstream.md §6.2): Create Chat's object plus the
    /// viewer's `userSettings {customName, hidden}`, `groupFlags`,
    /// `partnerMissingDmPermissionFlagsChecked` and a `type` on every member.
    pub fn group_detail_json(&self, g: &Group) -> Value {
        let mut v = self.group_json(g);
        if let Value::Object(m) = &mut v {
            m.insert("groupFlags".into(), json!(0));
            m.insert("partnerMissingDmPermissionFlagsChecked".into(), json!(true));
            m.insert(
                "userSettings".into(),
                json!({"customName": "", "hidden": 0}),
            );
            if let Some(Value::Array(users)) = m.get_mut("users") {
                for u in users.iter_mut() {
                    if let Value::Object(u) = u {
                        u.insert("type".into(), json!(0));
                        u.remove("userSettings");
                    }
                }
            }
        }
        v
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

#[derive(Clone, Copy)]
enum ProfileImage {
    Avatar,
    Banner,
}

/// An account's avatar or banner in Fansly's media shape (the vendor's Get
/// User Details example and RIP's account object, fansly-upstream.md §5):
/// `{id, type, mimetype, location, width, height, variants[], locations[]}`.
/// Fansly sends `null` for an account that never set one, so a few seeded
/// fans keep `null`: one in eight has no avatar, one in four no banner
/// (creators always have both). Derived from the account id so it is the same
/// on every start.
fn profile_image(a: &Account, kind: ProfileImage) -> Value {
    let (salt, every, w, h) = match kind {
        ProfileImage::Avatar => (1u64, 8u64, 1080u32, 1080u32),
        ProfileImage::Banner => (2, 4, 1500, 500),
    };
    // Seeded fans are created an hour apart from an hour boundary, so this
    // picks every `every`-th fan.
    if !a.creator && (a.created_at_ms / 3_600_000).rem_euclid(every as i64) == 0 {
        return Value::Null;
    }
    let account = a.id.to_string();
    let id = (a.id + salt).to_string();
    let created = a.created_at_ms / 1000;
    let location = format!("/{account}/{id}.jpeg");
    let cdn = |loc: &str| {
        json!([{
            "locationId": "1",
            "location": format!("https://cdn3.fansly.com{loc}?Expires={}&Signature=sandbox", created + 7 * 86_400)
        }])
    };
    let variant_id = (a.id + salt + 16).to_string();
    let variant_location = format!("/{account}/{variant_id}.jpeg");
    json!({
        "id": id,
        "type": 1,
        "status": 1,
        "accountId": account,
        "mimetype": "image/jpeg",
        "flags": 0,
        "location": location,
        "width": w,
        "height": h,
        "metadata": "{\"resolutionMode\":2}",
        "updatedAt": created,
        "createdAt": created,
        "variants": [{
            "id": variant_id,
            "type": 1,
            "status": 1,
            "mimetype": "image/jpeg",
            "flags": 0,
            "location": variant_location,
            "width": w / 2,
            "height": h / 2,
            "metadata": "{\"resolutionMode\":1}",
            "updatedAt": created,
            "locations": cdn(&variant_location)
        }],
        "locations": cdn(&location)
    })
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
