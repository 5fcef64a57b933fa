//! The sandbox's state: accounts, sessions and DM groups (how Fansly renders
//! them is in `world_json.rs`).
//! The other parts of the state (logins, messaging, businesses, content,
//! broadcast groups) are fields of [`World`], under the same lock; the access
//! rules that read across them (may this session act, may this viewer open
//! this media) are here too.
//!
//! Everything seeded is derived from fixed timestamps, so ids and tokens are the
//! same on every start: a gateway that stored a sandbox token keeps working.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine;
use fansly_upstream::ids::snowflake_at;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::AuthState;
use crate::broadcast::BroadcastGroup;
use crate::business::{Business, DAY_MS};
use crate::content::{Album, Content};
use crate::messaging::{Bundle, Grant, Message, Messaging};

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
    pub password: String,
    pub twofa: TwoFa,
    /// The session token seeded for creators (stable across restarts).
    pub seeded_token: Option<String>,
}

/// How an account's login is challenged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TwoFa {
    None,
    /// A code e-mailed to the account (Fansly's type 2).
    Email,
    /// An authenticator app (Fansly's type 0); the raw TOTP secret.
    Totp(Vec<u8>),
    /// No 2FA, but a login from a device the account has not confirmed is
    /// held for an e-mail check (code or link) first (issue 13, row 9).
    NewDevice,
}

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: u64,
    pub account_id: u64,
    pub token: String,
}

/// Why a request's session may not act (Fansly answers both with 401).
#[derive(Debug, PartialEq, Eq)]
pub enum SessionRefusal {
    /// The token is not a live session.
    Unknown,
    /// The `fansly-session-id` header names another session.
    Mismatch,
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
    pub email: String,
    pub password: String,
    /// `none`, `email`, `totp` or `verify` (new-device e-mail check).
    pub twofa: &'static str,
    /// Base32, for authenticator apps (and tests) to compute codes.
    pub totp_secret: Option<String>,
    pub token: String,
}

pub struct World {
    pub(crate) auth: AuthState,
    accounts: HashMap<u64, Account>,
    by_username: HashMap<String, u64>,
    sessions: HashMap<String, SessionRow>,
    groups: HashMap<u64, Group>,
    by_pair: HashMap<(u64, u64), u64>,
    last_ms: i64,
    seq: u64,
    pub messaging: Messaging,
    /// Each seeded creator's fans, money and statistics.
    businesses: HashMap<u64, Business>,
    /// Walls (and, later, posts, stories and vault albums).
    pub content: Content,
    /// Broadcast audience groups (type 3), as the dashboard configures them.
    pub broadcast_groups: HashMap<u64, BroadcastGroup>,
}

impl World {
    pub fn seeded() -> Self {
        let mut w = World {
            auth: Default::default(),
            accounts: HashMap::new(),
            by_username: HashMap::new(),
            sessions: HashMap::new(),
            groups: HashMap::new(),
            by_pair: HashMap::new(),
            last_ms: 0,
            seq: 0,
            messaging: Default::default(),
            businesses: HashMap::new(),
            content: Default::default(),
            broadcast_groups: HashMap::new(),
        };
        for (n, (username, display, twofa)) in [
            ("sandbox_creator", "Sandbox Creator", TwoFa::None),
            ("sandbox_studio", "Sandbox Studio", TwoFa::None),
            ("sandbox_mailcode", "Sandbox Mailcode", TwoFa::Email),
            (
                "sandbox_authenticator",
                "Sandbox Authenticator",
                TwoFa::Totp(Sha256::digest(b"fansly-sandbox-totp")[..20].to_vec()),
            ),
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
                password: format!("{username}-password"),
                twofa,
                seeded_token: None,
            });
            // Every creator's vault starts with its "All" album.
            w.content.add_album(
                id,
                Album {
                    id: snowflake_at(SEED_MS + 120_000, 1 + n),
                    title: "All".into(),
                    description: String::new(),
                    created_ms: SEED_MS,
                    kind: crate::content::ALL_ALBUM,
                    entries: Vec::new(),
                },
            );
            let session_id = snowflake_at(SEED_MS + 60_000, 1 + n);
            let token = seeded_token(session_id, id);
            if let Some(a) = w.accounts.get_mut(&id) {
                a.seeded_token = Some(token.clone());
            }
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
                password: format!("fan{i}-password"),
                twofa: TwoFa::None,
                seeded_token: None,
            });
        }
        w.seed_businesses();
        w.seed_new_device_check();
        w
    }

    /// `sandbox_verify`: a creator whose logins from a new device wait for
    /// an e-mail check. Seeded after the businesses and without a session
    /// token, so it has no business and is not one of the listed creators
    /// that tests and demos connect by token.
    fn seed_new_device_check(&mut self) {
        let id = snowflake_at(SEED_MS, 90);
        self.insert_account(Account {
            id,
            username: "sandbox_verify".into(),
            display_name: Some("Sandbox Verify".into()),
            creator: true,
            created_at_ms: SEED_MS,
            email: "sandbox_verify@sandbox.invalid".into(),
            password: "sandbox_verify-password".into(),
            twofa: TwoFa::NewDevice,
            seeded_token: None,
        });
        self.content.add_album(
            id,
            Album {
                id: snowflake_at(SEED_MS + 120_000, 90),
                title: "All".into(),
                description: String::new(),
                created_ms: SEED_MS,
                kind: crate::content::ALL_ALBUM,
                entries: Vec::new(),
            },
        );
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

    /// Sandbox-only: a new fan account (no business history), or `None`
    /// when the username is taken.
    pub fn add_fan(&mut self, username: &str) -> Option<u64> {
        if self.by_username.contains_key(&username.to_lowercase()) {
            return None;
        }
        let id = self.mint_id();
        self.insert_account(Account {
            id,
            username: username.to_owned(),
            display_name: Some(username.to_owned()),
            creator: false,
            created_at_ms: now_ms(),
            email: format!("{username}@sandbox.invalid"),
            password: format!("{username}-password"),
            twofa: TwoFa::None,
            seeded_token: None,
        });
        Some(id)
    }

    fn insert_account(&mut self, a: Account) {
        self.by_username.insert(a.username.to_lowercase(), a.id);
        self.accounts.insert(a.id, a);
    }

    pub fn creators(&self) -> Vec<SeededCreator> {
        let mut out: Vec<SeededCreator> = self
            .accounts
            .values()
            .filter_map(|a| {
                Some(SeededCreator {
                    account_id: a.id.to_string(),
                    username: a.username.clone(),
                    email: a.email.clone(),
                    password: a.password.clone(),
                    twofa: match a.twofa {
                        TwoFa::None => "none",
                        TwoFa::Email => "email",
                        TwoFa::Totp(_) => "totp",
                        TwoFa::NewDevice => "verify",
                    },
                    totp_secret: match &a.twofa {
                        TwoFa::Totp(secret) => {
                            Some(totp_rs::Secret::from(secret.clone()).to_base32())
                        }
                        _ => None,
                    },
                    token: a.seeded_token.clone()?,
                })
            })
            .collect();
        out.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        out
    }

    /// A further creator (no seeded business) with a stable session token,
    /// for load tests that need many connected accounts. `None` when the
    /// username is taken.
    pub fn add_creator(&mut self, username: &str) -> Option<SeededCreator> {
        if self.by_username.contains_key(&username.to_lowercase()) {
            return None;
        }
        let n = 1000 + self.accounts.len() as u64;
        let id = snowflake_at(SEED_MS, n);
        let session_id = snowflake_at(SEED_MS + 60_000, n);
        let token = seeded_token(session_id, id);
        self.insert_account(Account {
            id,
            username: username.into(),
            display_name: Some(username.into()),
            creator: true,
            created_at_ms: SEED_MS,
            email: format!("{username}@sandbox.invalid"),
            password: format!("{username}-password"),
            twofa: TwoFa::None,
            seeded_token: Some(token.clone()),
        });
        self.sessions.insert(
            token.clone(),
            SessionRow {
                id: session_id,
                account_id: id,
                token: token.clone(),
            },
        );
        let album_id = self.mint_id();
        self.content.add_album(
            id,
            Album {
                id: album_id,
                title: "All".into(),
                description: String::new(),
                created_ms: SEED_MS,
                kind: crate::content::ALL_ALBUM,
                entries: Vec::new(),
            },
        );
        Some(SeededCreator {
            account_id: id.to_string(),
            username: username.into(),
            email: format!("{username}@sandbox.invalid"),
            password: format!("{username}-password"),
            twofa: "none",
            totp_secret: None,
            token,
        })
    }

    pub fn session(&self, token: &str) -> Option<&SessionRow> {
        self.sessions.get(token)
    }

    /// The session a request acts as: its token must be a live session and,
    /// when the request names a session id, that id must be the token's.
    pub fn caller_session(
        &self,
        token: &str,
        session_id: Option<&str>,
    ) -> Result<SessionRow, SessionRefusal> {
        let session = self
            .session(token)
            .cloned()
            .ok_or(SessionRefusal::Unknown)?;
        if session_id.is_some_and(|sid| sid != session.id.to_string()) {
            return Err(SessionRefusal::Mismatch);
        }
        Ok(session)
    }

    /// A new session for `account_id`, as a successful login issues it.
    pub fn open_session(&mut self, account_id: u64) -> SessionRow {
        let id = self.mint_id();
        let secret: [u8; 16] = rand::random();
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{id}:1:2:{}", hex::encode(secret)));
        let row = SessionRow {
            id,
            account_id,
            token: token.clone(),
        };
        self.sessions.insert(token, row.clone());
        row
    }

    /// Ends a session as `POST /session/close` or an expiry would; the
    /// tokens that died, so their open sockets can be refused.
    pub fn close_session(&mut self, session_id: u64) -> Vec<String> {
        self.remove_sessions(|s| s.id == session_id)
    }

    pub fn tokens_of(&self, account_id: u64) -> Vec<String> {
        self.sessions
            .values()
            .filter(|s| s.account_id == account_id)
            .map(|s| s.token.clone())
            .collect()
    }

    /// Ends every session of an account; the tokens that died.
    pub fn expire_sessions_of(&mut self, account_id: u64) -> Vec<String> {
        self.remove_sessions(|s| s.account_id == account_id)
    }

    fn remove_sessions(&mut self, dies: impl Fn(&SessionRow) -> bool) -> Vec<String> {
        let dead: Vec<String> = self
            .sessions
            .values()
            .filter(|s| dies(s))
            .map(|s| s.token.clone())
            .collect();
        for t in &dead {
            self.sessions.remove(t);
        }
        dead
    }

    pub fn account_mut_by_username(&mut self, name: &str) -> Option<&mut Account> {
        let id = *self.by_username.get(&name.to_lowercase())?;
        self.accounts.get_mut(&id)
    }

    /// Login accepts a username or an e-mail address.
    pub fn account_by_login(&self, login: &str) -> Option<&Account> {
        self.account_by_username(login).or_else(|| {
            self.accounts
                .values()
                .find(|a| a.email.eq_ignore_ascii_case(login))
        })
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

    /// A group `member` belongs to.
    pub fn group_of(&self, id: u64, member: u64) -> Option<&Group> {
        self.groups
            .get(&id)
            .filter(|g| g.created_by == member || g.partner == member)
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

    /// A live message in one of `member`'s groups.
    pub fn live_message_of(&mut self, id: u64, member: u64) -> Option<&mut Message> {
        let group = self.messaging.messages.get(&id)?.group_id;
        self.group_of(group, member)?;
        self.messaging
            .messages
            .get_mut(&id)
            .filter(|m| m.deleted_ms.is_none())
    }

    /// Stores a message from `sender` in `group` (which the caller checked);
    /// every other member gets an unread, undelivered interaction.
    pub fn post_message(
        &mut self,
        group: u64,
        sender: u64,
        content: String,
        attachments: Vec<u64>,
        in_reply_to: Option<u64>,
    ) -> Message {
        let id = self.mint_id();
        let g = self.group(group).expect("caller checked the group").clone();
        let interactions: BTreeMap<u64, (i64, i64)> = [g.created_by, g.partner]
            .into_iter()
            .filter(|u| *u != sender)
            .map(|u| (u, (0, 0)))
            .collect();
        let m = Message {
            id,
            group_id: group,
            sender,
            content,
            created_ms: now_ms(),
            in_reply_to,
            attachments,
            likes: Vec::new(),
            interactions,
            deleted_ms: None,
        };
        self.messaging.insert(m.clone());
        m
    }

    /// Whether `viewer` may open grant `g`: the owner and whitelisted accounts
    /// always; otherwise an ungated grant, or any one of its gates (§8.3 flags
    /// 1 = purchased, 2 = an active subscription to the owner, 4 = following
    /// the owner, which subscribers also count as; gates are alternatives,
    /// INFERRED). An item of a bundle must also pass the bundle's gates: the
    /// bundle gates its content as a whole (INFERRED from the bundle body,
    /// whose items carry no `permissions`).
    pub fn may_open(&self, viewer: u64, g: &Grant) -> bool {
        let own = self.passes(viewer, g.id, g.account, &g.whitelist, &g.gates);
        own && self
            .messaging
            .bundle_of
            .get(&g.id)
            .and_then(|b| self.messaging.bundles.get(b))
            .is_none_or(|b| self.may_open_bundle(viewer, b))
    }

    pub fn may_open_bundle(&self, viewer: u64, b: &Bundle) -> bool {
        self.passes(viewer, b.id, b.account, &b.whitelist, &b.gates)
    }

    /// One gated object (`id`, a grant or a bundle, bought by that id) as
    /// `viewer` may open it.
    fn passes(
        &self,
        viewer: u64,
        id: u64,
        owner: u64,
        whitelist: &HashSet<u64>,
        gates: &[Value],
    ) -> bool {
        if owner == viewer || whitelist.contains(&viewer) || gates.is_empty() {
            return true;
        }
        let business = self.business(owner);
        let subscribed = business
            .subscriptions
            .iter()
            .any(|s| s.fan == viewer && s.active);
        let follows = business.follows.iter().any(|f| f.fan == viewer);
        let bought = self.content.purchases.contains(&(viewer, id));
        gates.iter().any(|gate| {
            let flags = gate.get("flags").and_then(Value::as_i64).unwrap_or(0);
            (flags & 1 != 0 && bought)
                || (flags & 2 != 0 && subscribed)
                || (flags & 4 != 0 && (follows || subscribed))
        })
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
