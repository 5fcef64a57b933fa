//! `senderData` for `fansly.messages.received`: the sender's public profile
//! (id, username, displayName, avatar), which the vendor adds and chat bots
//! greet fans with. Looked up with `GET /account?ids=` through the
//! account's own session (so within its budget) and cached per account, so
//! a fan who writes a hundred messages costs one lookup; the chat list the
//! gap fill reads seeds the cache for free. A lookup never waits for the
//! account's budget: it sits on the relay's ordered write path, where a
//! burst from many new fans once queued every message behind the route's
//! 20 per minute; a lookup the budget cannot take at once is skipped and
//! the message goes out with `available: false`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::accounts::sessions::Sessions;

/// A looked-up profile is reused this long (display names and avatars do
/// change, so not forever).
const TTL: Duration = Duration::from_secs(60 * 60);
/// Bound on cached profiles per process; past it, stale entries go first,
/// then everything (the next lookups refill it).
const CAPACITY: usize = 50_000;

type Key = (String, String);

#[derive(Clone)]
pub struct Profiles {
    sessions: Sessions,
    cache: Arc<Mutex<HashMap<Key, (Value, Instant)>>>,
}

impl Profiles {
    pub fn new(sessions: Sessions) -> Profiles {
        Profiles {
            sessions,
            cache: Arc::default(),
        }
    }

    /// Caches the public profile in a Fansly `account` object as seen by
    /// account `account_id`.
    pub fn remember(&self, account_id: &str, account: &Value) {
        let Some(id) = id_str(account.get("id")) else {
            return;
        };
        let data = sender_data(&id, Some(account));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CAPACITY {
            cache.retain(|_, (_, at)| at.elapsed() < TTL);
            if cache.len() >= CAPACITY {
                cache.clear();
            }
        }
        cache.insert((account_id.to_owned(), id), (data, Instant::now()));
    }

    fn cached(&self, account_id: &str, user: &str) -> Option<Value> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&(account_id.to_owned(), user.to_owned()))
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(v, _)| v.clone())
    }

    /// The `senderData` of Fansly user `user` for the account: from the
    /// cache, else looked up. When the lookup fails the event still goes
    /// out, with `available: false` and only the id.
    pub async fn sender_data(&self, team_id: &str, account_id: &str, user: &str) -> Value {
        if let Some(v) = self.cached(account_id, user) {
            return v;
        }
        let found = match self.sessions.connected(team_id, account_id).await {
            Ok(account) => self
                .sessions
                .fansly
                .without_waiting()
                .accounts_by_ids::<Value>(&account.session, &[user.to_owned()])
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match found {
            Ok(list) => {
                let account = list.as_array().and_then(|a| {
                    a.iter()
                        .find(|x| id_str(x.get("id")).as_deref() == Some(user))
                });
                match account {
                    Some(a) => {
                        self.remember(account_id, a);
                        sender_data(user, Some(a))
                    }
                    // Fansly answers nothing for a deleted or banned account.
                    None => sender_data(user, None),
                }
            }
            Err(e) => {
                tracing::debug!(account = account_id, user, error = %e, "senderData lookup failed");
                sender_data(user, None)
            }
        }
    }

    /// Looks up, in one request per 50 users, the senders of the received
    /// messages among `events` that are not cached, so a burst from many
    /// fans costs a few lookups instead of one per fan. Failures are left
    /// to [`Self::enrich`]'s own lookup.
    pub async fn prefetch<'a>(
        &self,
        team_id: &str,
        account_id: &str,
        events: impl Iterator<Item = (&'a str, &'a Value)>,
    ) {
        let mut missing: Vec<String> = events
            .filter(|(name, p)| {
                *name == "fansly.messages.received" && p.get("senderData").is_none()
            })
            .filter_map(|(_, p)| id_str(p.get("senderId")))
            .filter(|id| self.cached(account_id, id).is_none())
            .collect();
        missing.sort();
        missing.dedup();
        if missing.len() < 2 {
            return;
        }
        let Ok(account) = self.sessions.connected(team_id, account_id).await else {
            return;
        };
        let fansly = self.sessions.fansly.without_waiting();
        for chunk in missing.chunks(50) {
            match fansly
                .accounts_by_ids::<Value>(&account.session, chunk)
                .await
            {
                Ok(list) => {
                    for a in list.as_array().into_iter().flatten() {
                        self.remember(account_id, a);
                    }
                }
                Err(e) => {
                    tracing::debug!(account = account_id, error = %e, "senderData lookup failed");
                    return;
                }
            }
        }
    }

    /// Adds `senderData` to a `fansly.messages.received` payload.
    pub async fn enrich(&self, team_id: &str, account_id: &str, name: &str, payload: &mut Value) {
        if name != "fansly.messages.received" || payload.get("senderData").is_some() {
            return;
        }
        let Some(sender) = id_str(payload.get("senderId")) else {
            return;
        };
        let data = self.sender_data(team_id, account_id, &sender).await;
        payload["senderData"] = data;
    }
}

fn id_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The vendor's `senderData`: `available` says whether the profile could be
/// read; `avatar` is the avatar's first location URL when Fansly gives one.
fn sender_data(id: &str, account: Option<&Value>) -> Value {
    let Some(a) = account else {
        return json!({"available": false, "id": id, "username": null, "displayName": null, "avatar": null});
    };
    let avatar = a.get("avatar").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => v
            .pointer("/locations/0/location")
            .or_else(|| v.pointer("/variants/0/locations/0/location"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    });
    json!({
        "available": true,
        "id": id,
        "username": a.get("username").cloned().unwrap_or(Value::Null),
        "displayName": a.get("displayName").cloned().unwrap_or(Value::Null),
        "avatar": avatar,
    })
}
