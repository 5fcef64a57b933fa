//! Messaging and media state of the simulated Fansly: messages with their
//! interactions and likes, per-member group settings, upload sessions, vault
//! media and the accountMedia grants that attach media to messages.
//!
//! It is one field of [`crate::world::World`], so it lives under the same lock.
//! The rules that read only this state (who owns an attachment, who may see
//! a grant or a bundle, which parts an upload accepts) are here too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Map, Value};

/// Fansly's part size for uploads (spec §8.4: 20 MiB).
pub const PART_SIZE: u64 = 20 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Message {
    pub id: u64,
    pub group_id: u64,
    pub sender: u64,
    pub content: String,
    pub created_ms: i64,
    pub in_reply_to: Option<u64>,
    /// accountMedia (grant) or bundle ids in attachment order.
    pub attachments: Vec<u64>,
    pub likes: Vec<Like>,
    /// Recipient → (readAt, deliveredAt) in ms, 0 = not yet.
    pub interactions: BTreeMap<u64, (i64, i64)>,
    pub deleted_ms: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Like {
    pub id: u64,
    pub account: u64,
    pub kind: i64,
}

#[derive(Clone, Debug)]
pub struct Upload {
    pub id: u64,
    pub account: u64,
    pub size: u64,
    pub mime: String,
    pub file_name: String,
    pub secret: String,
    /// Stored bytes and ETag of each part, once PUT.
    pub parts: Vec<Option<(PathBuf, String)>>,
    /// Set by `complete`: the media id and when it was completed.
    pub completed: Option<(u64, Instant)>,
}

#[derive(Clone, Debug)]
pub struct Media {
    pub id: u64,
    pub account: u64,
    pub mime: String,
    pub file_name: String,
    pub ext: String,
    pub path: PathBuf,
    pub created_ms: i64,
    /// Base URL of the sandbox's CDN route, as the uploader reached the sandbox.
    pub cdn_base: String,
}

#[derive(Clone, Debug)]
pub struct Grant {
    pub id: u64,
    pub account: u64,
    pub media: u64,
    pub whitelist: HashSet<u64>,
    pub created_ms: i64,
    /// Top-level `permissionFlags` as granted (8 for DMs, 0 for posts).
    pub permission_flags: i64,
    /// `permissions.permissionFlags` as granted: the gates (§8.3).
    pub gates: Vec<Value>,
}

/// An accountMedia bundle (§8.3): grants shown together in one attachment,
/// gated as a whole by the bundle's `permissions`.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub id: u64,
    pub account: u64,
    /// The accountMedia (grant) ids in bundle order.
    pub items: Vec<u64>,
    pub whitelist: HashSet<u64>,
    pub created_ms: i64,
    pub permission_flags: i64,
    /// `permissions.permissionFlags` of the bundle: its gates.
    pub gates: Vec<Value>,
}

#[derive(Default)]
pub struct Messaging {
    pub messages: HashMap<u64, Message>,
    /// Message ids per group, ascending (= oldest first).
    pub by_group: HashMap<u64, Vec<u64>>,
    /// (group, member) → that member's own `userSettings` for the group.
    pub settings: HashMap<(u64, u64), Map<String, Value>>,
    pub uploads: HashMap<u64, Upload>,
    pub media: HashMap<u64, Media>,
    pub grants: HashMap<u64, Grant>,
    pub bundles: HashMap<u64, Bundle>,
    /// accountMedia → the bundle it was created in.
    pub bundle_of: HashMap<u64, u64>,
}

impl Messaging {
    pub fn insert(&mut self, m: Message) {
        self.by_group.entry(m.group_id).or_default().push(m.id);
        self.messages.insert(m.id, m);
    }

    /// A group's messages, newest first.
    pub fn newest_first(&self, group: u64) -> impl Iterator<Item = &Message> {
        self.by_group
            .get(&group)
            .into_iter()
            .flat_map(|ids| ids.iter().rev())
            .filter_map(|id| self.messages.get(id))
    }

    pub fn last_message(&self, group: u64) -> Option<&Message> {
        self.newest_first(group).find(|m| m.deleted_ms.is_none())
    }

    /// Messages of others that `member` has not read, newest first.
    pub fn unread(&self, group: u64, member: u64) -> Vec<&Message> {
        self.newest_first(group)
            .filter(|m| m.deleted_ms.is_none())
            .filter(|m| {
                m.interactions
                    .get(&member)
                    .is_some_and(|(read, _)| *read == 0)
            })
            .collect()
    }

    /// A message as `GET /message` renders it (REST: `createdAt` whole seconds).
    pub fn message_json(&self, m: &Message) -> Value {
        let id = m.id.to_string();
        let attachments: Vec<Value> = if m.deleted_ms.is_some() {
            Vec::new()
        } else {
            m.attachments
                .iter()
                .enumerate()
                .map(|(pos, g)| {
                    json!({"messageId": id, "contentType": self.content_type(*g), "contentId": g.to_string(), "pos": pos})
                })
                .collect()
        };
        let mut v = json!({
            "id": id,
            "type": 1,
            "dataVersion": 1,
            "content": if m.deleted_ms.is_some() { "" } else { m.content.as_str() },
            "groupId": m.group_id.to_string(),
            "senderId": m.sender.to_string(),
            "correlationId": "0",
            "inReplyTo": m.in_reply_to.map(|r| r.to_string()),
            "inReplyToRoot": m.in_reply_to.map(|r| r.to_string()),
            "createdAt": m.created_ms / 1000,
            "attachments": attachments,
            "embeds": [],
            "interactions": m.interactions.iter().map(|(user, (read, delivered))| {
                json!({"userId": user.to_string(), "readAt": read, "deliveredAt": delivered})
            }).collect::<Vec<_>>(),
            "likes": m.likes.iter().map(|l| like_json(l, m, false)).collect::<Vec<_>>(),
            "totalTipAmount": 0
        });
        if let Some(at) = m.deleted_ms {
            v["deletedAt"] = json!(at / 1000);
        }
        v
    }

    /// The answer of `POST /message`: the new message as the sender sees it
    /// (fractional seconds, `inReplyTo` "" for none, interactions with `groupId`).
    pub fn sent_json(&self, m: &Message) -> Value {
        let id = m.id.to_string();
        let gid = m.group_id.to_string();
        json!({
            "type": 1,
            "attachments": m.attachments.iter().enumerate().map(|(pos, g)| {
                json!({"messageId": id, "contentType": self.content_type(*g), "contentId": g.to_string(), "pos": pos})
            }).collect::<Vec<_>>(),
            "content": m.content,
            "groupId": gid,
            "senderId": m.sender.to_string(),
            "inReplyTo": m.in_reply_to.map(|r| r.to_string()).unwrap_or_default(),
            "interactions": m.interactions.keys().map(|user| {
                json!({"groupId": gid, "userId": user.to_string(), "readAt": 0, "deliveredAt": 0})
            }).collect::<Vec<_>>(),
            "id": id,
            "createdAt": m.created_ms as f64 / 1000.0
        })
    }

    pub fn media_json(&self, m: &Media) -> Value {
        let id = m.id.to_string();
        let account = m.account.to_string();
        let kind = if m.mime.starts_with("video/") { 2 } else { 1 };
        let location = format!("/{account}/{id}.{}", m.ext);
        let expires = m.created_ms / 1000 + 7 * 86_400;
        json!({
            "id": id,
            "type": kind,
            "status": 1,
            "accountId": account,
            "mimetype": m.mime,
            "flags": 0,
            "filename": m.file_name,
            "location": location,
            "width": 0,
            "height": 0,
            "metadata": "{}",
            "createdAt": m.created_ms / 1000,
            "updatedAt": m.created_ms / 1000,
            "variants": [],
            "locations": [{
                "locationId": "1",
                "location": format!("{}/cdn{location}?Expires={expires}&Signature=sandbox", m.cdn_base)
            }]
        })
    }

    /// An accountMedia grant with its media, as `/account/media` renders it.
    pub fn grant_json(&self, g: &Grant) -> Value {
        let id = g.id.to_string();
        let media = self
            .media
            .get(&g.media)
            .map(|m| self.media_json(m))
            .unwrap_or(Value::Null);
        json!({
            "id": id,
            "accountId": g.account.to_string(),
            "mediaId": g.media.to_string(),
            "previewId": null,
            "permissionFlags": g.permission_flags,
            "price": 0,
            "createdAt": g.created_ms / 1000,
            "deletedAt": null,
            "deleted": false,
            "permissions": {
                "permissionFlags": g.gates,
                "accountPermissionFlags": {"flags": 255, "metadata": "{}"}
            },
            "likeCount": 0,
            "media": media,
            "purchased": true,
            "whitelisted": true,
            "accountPermissionFlags": 255,
            "access": true
        })
    }

    /// The `contentType` of an attachment id: 2 for a bundle, else 1
    /// (accountMedia), as §6.4 lists them.
    pub fn content_type(&self, id: u64) -> i64 {
        if self.bundles.contains_key(&id) {
            2
        } else {
            1
        }
    }

    /// A bundle as Fansly renders it to its owner: the items both as
    /// `accountMediaIds` and as `bundleContent` (both forms are seen, §8.2).
    pub fn bundle_json(&self, b: &Bundle) -> Value {
        json!({
            "id": b.id.to_string(),
            "accountId": b.account.to_string(),
            "previewId": null,
            "permissionFlags": b.permission_flags,
            "price": 0,
            "createdAt": b.created_ms / 1000,
            "deletedAt": null,
            "deleted": false,
            "accountMediaIds": b.items.iter().map(u64::to_string).collect::<Vec<_>>(),
            "bundleContent": b.items.iter().enumerate().map(|(pos, id)| {
                json!({"accountMediaId": id.to_string(), "pos": pos})
            }).collect::<Vec<_>>(),
            "permissions": {
                "permissionFlags": b.gates,
                "accountPermissionFlags": {"flags": 255, "metadata": "{}"}
            },
            "likeCount": 0,
            "purchased": true,
            "whitelisted": true,
            "accountPermissionFlags": 255,
            "access": true
        })
    }

    /// Whether attachment `id` of `content_type` is `account`'s own:
    /// accountMedia (1) or a bundle (2) it made; anything else is not.
    pub fn owns_attachment(&self, account: u64, content_type: Option<i64>, id: u64) -> bool {
        match content_type {
            Some(1) => self.grants.get(&id).is_some_and(|g| g.account == account),
            Some(2) => self.bundles.get(&id).is_some_and(|b| b.account == account),
            _ => false,
        }
    }

    /// Whether a presigned PUT may store part `index` of upload `id`: the
    /// signature is the upload's secret, the part exists and the upload is
    /// not completed yet.
    pub fn accepts_part(&self, id: u64, signature: Option<&String>, index: usize) -> bool {
        self.uploads.get(&id).is_some_and(|u| {
            Some(&u.secret) == signature && index < u.parts.len() && u.completed.is_none()
        })
    }

    /// Bundles `viewer` may see: their own and those whitelisting them.
    pub fn visible_bundle(&self, id: u64, viewer: u64) -> Option<&Bundle> {
        self.bundles
            .get(&id)
            .filter(|b| b.account == viewer || b.whitelist.contains(&viewer))
    }

    /// Grants `viewer` may see: their own and those whitelisting them.
    pub fn visible_grant(&self, id: u64, viewer: u64) -> Option<&Grant> {
        self.grants
            .get(&id)
            .filter(|g| g.account == viewer || g.whitelist.contains(&viewer))
    }
}

/// A like as Fansly answers it. The add and remove answers list the same keys
/// in different orders (vendor examples); `removed` picks the remove order.
pub fn like_json(l: &Like, m: &Message, removed: bool) -> Value {
    let (account, message, group, id) = (
        l.account.to_string(),
        m.id.to_string(),
        m.group_id.to_string(),
        l.id.to_string(),
    );
    if removed {
        json!({"accountId": account, "messageId": message, "type": l.kind, "id": id, "groupId": group})
    } else {
        json!({"accountId": account, "messageId": message, "type": l.kind, "groupId": group, "id": id})
    }
}
