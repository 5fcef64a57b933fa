//! The sandbox's state: accounts, sessions and DM groups, and how Fansly renders them.
//!
//! Everything seeded is derived from fixed timestamps, so ids and tokens are the
//! same on every start: a gateway that stored a sandbox token keeps working.

use std::collections::HashMap;

use crate::business::{Business, DAY_MS};

use base64::Engine;
use fansly_upstream::ids::snowflake_at;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// 2024-01-01T00:00:00Z: the creation time of everything seeded.
const SEED_MS: i64 = 1_704_067_200_000;

pub const FAN_COUNT: u32 = 200;

#[derive(Clone, Debug)]
pub struct Account {
    pub id: u64,
    pub username: String,
    pub display_name: Option<String>,
    pub creator: bool,
    pub created_at_ms: i64,
    pub email: String,
}

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: u64,
    pub account_id: u64,
    pub token: String,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: u64,
    pub created_by: u64,
    pub partner: u64,
    /// The partner's DM permission flag rows (ids minted with the group).
    pub dm_flag_ids: [u64; 2],
}

/// A seeded creator as a test or a demo needs it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SeededCreator {
    pub account_id: String,
    pub username: String,
    pub token: String,
}

pub struct World {
    accounts: HashMap<u64, Account>,
    by_username: HashMap<String, u64>,
    sessions: HashMap<String, SessionRow>,
    groups: HashMap<u64, Group>,
    by_pair: HashMap<(u64, u64), u64>,
    last_ms: i64,
    seq: u64,
    /// Each seeded creator's fans, money and statistics.
    businesses: HashMap<u64, Business>,
}

impl World {
    pub fn seeded() -> Self {
        let mut w = World {
            accounts: HashMap::new(),
            by_username: HashMap::new(),
            sessions: HashMap::new(),
            groups: HashMap::new(),
            by_pair: HashMap::new(),
            last_ms: 0,
            seq: 0,
            businesses: HashMap::new(),
        };
        for (n, (username, display)) in [
            ("sandbox_creator", "Sandbox Creator"),
            ("sandbox_studio", "Sandbox Studio"),
        ]
        .into_iter()
        .enumerate()
        {
            let n = n as u64;
            let id = snowflake_at(SEED_MS, 1 + n);
            w.insert_account(Account {
                id,
                username: username.into(),
                display_name: Some(display.into()),
                creator: true,
                created_at_ms: SEED_MS,
                email: format!("{username}@sandbox.invalid"),
            });
            let session_id = snowflake_at(SEED_MS + 60_000, 1 + n);
            let token = seeded_token(session_id, id);
            w.sessions.insert(
                token.clone(),
                SessionRow {
                    id: session_id,
                    account_id: id,
                    token,
                },
            );
        }
        for i in 1..=FAN_COUNT {
            let at = SEED_MS + i64::from(i) * 3_600_000;
            w.insert_account(Account {
                id: snowflake_at(at, u64::from(i)),
                username: format!("fan{i}"),
                // Fansly allows no display name; every tenth fan has none.
                display_name: (i % 10 != 0).then(|| format!("Fan {i}")),
                creator: false,
                created_at_ms: at,
                email: format!("fan{i}@sandbox.invalid"),
            });
        }
        w.seed_businesses();
        w
    }

    fn seed_businesses(&mut self) {
        let fans: Vec<u64> = (1..=FAN_COUNT)
            .filter_map(|i| self.account_by_username(&format!("fan{i}")).map(|a| a.id))
            .collect();
        let mut creators: Vec<u64> = self
            .accounts
            .values()
            .filter(|a| a.creator)
            .map(|a| a.id)
            .collect();
        creators.sort_unstable();
        let anchor = now_ms() / DAY_MS * DAY_MS;
        for (seed, &creator) in creators.iter().enumerate() {
            let peers: Vec<u64> = creators.iter().copied().filter(|c| *c != creator).collect();
            let business = Business::generate(creator, seed as u64, &fans, &peers, anchor);
            self.businesses.insert(creator, business);
        }
    }

    /// The business of `account`; accounts without one have an empty one.
    pub fn business(&self, account: u64) -> &Business {
        static EMPTY: std::sync::OnceLock<Business> = std::sync::OnceLock::new();
        self.businesses
            .get(&account)
            .unwrap_or_else(|| EMPTY.get_or_init(Business::default))
    }

    pub fn business_mut(&mut self, account: u64) -> Option<&mut Business> {
        self.businesses.get_mut(&account)
    }

    fn insert_account(&mut self, a: Account) {
        self.by_username.insert(a.username.to_lowercase(), a.id);
        self.accounts.insert(a.id, a);
    }

    pub fn creators(&self) -> Vec<SeededCreator> {
        let mut out: Vec<SeededCreator> = self
            .sessions
            .values()
            .filter_map(|s| {
                let a = self.accounts.get(&s.account_id)?;
                Some(SeededCreator {
                    account_id: a.id.to_string(),
                    username: a.username.clone(),
                    token: s.token.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        out
    }

    pub fn session(&self, token: &str) -> Option<&SessionRow> {
        self.sessions.get(token)
    }

    /// Ends a session as `POST /session/close` or an expiry would.
    pub fn close_session(&mut self, session_id: u64) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.id != session_id);
        before != self.sessions.len()
    }

    pub fn account(&self, id: u64) -> Option<&Account> {
        self.accounts.get(&id)
    }

    pub fn account_by_username(&self, name: &str) -> Option<&Account> {
        self.by_username
            .get(&name.to_lowercase())
            .and_then(|id| self.accounts.get(id))
    }

    /// Fresh snowflake: current ms, distinct low bits within the same ms.
    pub fn mint_id(&mut self) -> u64 {
        let now = now_ms().max(self.last_ms);
        if now == self.last_ms {
            self.seq += 1;
        } else {
            self.last_ms = now;
            self.seq = 0;
        }
        snowflake_at(now, self.seq)
    }

    /// The DM group of a pair, created on first request: Fansly keeps one DM per pair.
    pub fn open_group(&mut self, me: u64, partner: u64) -> &Group {
        let key = (me.min(partner), me.max(partner));
        let id = match self.by_pair.get(&key) {
            Some(id) => *id,
            None => {
                let id = self.mint_id();
                let dm_flag_ids = [self.mint_id(), self.mint_id()];
                self.groups.insert(
                    id,
                    Group {
                        id,
                        created_by: me,
                        partner,
                        dm_flag_ids,
                    },
                );
                self.by_pair.insert(key, id);
                id
            }
        };
        &self.groups[&id]
    }

    pub fn group(&self, id: u64) -> Option<&Group> {
        self.groups.get(&id)
    }

    /// The groups `member` belongs to, newest first.
    pub fn groups_of(&self, member: u64) -> Vec<&Group> {
        let mut out: Vec<&Group> = self
            .groups
            .values()
            .filter(|g| g.created_by == member || g.partner == member)
            .collect();
        out.sort_by_key(|g| std::cmp::Reverse(g.id));
        out
    }

    /// The other member of a DM group, seen from `me`.
    pub fn partner_of(&self, g: &Group, me: u64) -> Option<&Account> {
        let other = if g.created_by == me {
            g.partner
        } else {
            g.created_by
        };
        self.accounts.get(&other)
    }

    /// An account as `/account?usernames=` and `/account?ids=` render it.
    pub fn account_json(&self, a: &Account) -> Value {
        let id = a.id.to_string();
        let wall_id = (a.id + 1).to_string();
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
                json!([{
                    "id": wall_id,
                    "accountId": id,
                    "pos": 0,
                    "name": "Posts",
                    "description": "",
                    "private": 0,
                    "metadata": "",
                    "defaultWall": true,
                    "mainWall": true
                }])
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
            "lastMessage": null,
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

/// A token in Fansly's format, base64 of `<sessionId>:1:2:<hash>`, derived
/// from the ids so it is stable across restarts.
fn seeded_token(session_id: u64, account_id: u64) -> String {
    let hash = hex::encode(Sha256::digest(format!(
        "fansly-sandbox:{session_id}:{account_id}"
    )));
    base64::engine::general_purpose::STANDARD.encode(format!("{session_id}:1:2:{}", &hash[..32]))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
