//! The event bus: who is connected as which account (and with which session
//! token), the frames each account was sent (so a test can replay them after
//! a reconnect), the upgrade requests seen, and which accounts' pings go
//! unanswered. Publishing fans a frame out to the account's open sockets;
//! each socket's task (`protocol.rs`) drains its outbox.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::http::HeaderMap;
use tokio::sync::mpsc;

use crate::messaging::Message;
use crate::ws::frames::{service, ws_message};

/// Frames kept per creator for `/_sandbox/ws/replay`.
pub const HISTORY: usize = 500;
/// Upgrade requests kept for inspection.
const UPGRADES: usize = 50;

/// What a socket's task is told to do.
pub enum Push {
    Text(String),
    /// Close without a close frame, as a network failure looks.
    Drop,
    /// `t:0 {code}` then a close frame: Fansly refusing the session (401)
    /// or rate limiting it (429) on an open socket (§10.2, §3.3).
    Refuse(i64),
}

/// One open socket: its id, the session token it authenticated with, its outbox.
struct Subscriber {
    id: u64,
    token: String,
    tx: mpsc::UnboundedSender<Push>,
}

/// Open sockets per account.
type Subscribers = HashMap<u64, Vec<Subscriber>>;

/// The event bus: who is connected as which account, and what was sent.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<Subscribers>,
    history: Mutex<HashMap<u64, VecDeque<String>>>,
    upgrades: Mutex<VecDeque<BTreeMap<String, String>>>,
    /// Accounts whose `p` goes unanswered (to exercise the client's timeout).
    silent: Mutex<HashSet<u64>>,
    next: AtomicU64,
}

impl Hub {
    pub fn subscribe(&self, account: u64, token: &str) -> (u64, mpsc::UnboundedReceiver<Push>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.subscribers)
            .entry(account)
            .or_default()
            .push(Subscriber {
                id,
                token: token.to_owned(),
                tx,
            });
        (id, rx)
    }

    /// Refuses (`t:0 {code:401}`, close) every open socket authenticated
    /// with one of `tokens`: a session that ends on Fansly's side ends the
    /// sockets it opened, not only later REST calls. How many were refused.
    pub fn refuse_tokens(&self, tokens: &[String]) -> usize {
        if tokens.is_empty() {
            return 0;
        }
        let subs = lock(&self.subscribers);
        subs.values()
            .flatten()
            .filter(|s| tokens.contains(&s.token))
            .filter(|s| s.tx.send(Push::Refuse(401)).is_ok())
            .count()
    }

    pub fn unsubscribe(&self, account: u64, id: u64) {
        let mut subs = lock(&self.subscribers);
        if let Some(list) = subs.get_mut(&account) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                subs.remove(&account);
            }
        }
    }

    /// Sends `text` to every open socket of `account` and remembers it.
    pub fn publish(&self, account: u64, text: String) {
        {
            let mut history = lock(&self.history);
            let h = history.entry(account).or_default();
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(text.clone());
        }
        self.send(account, || Push::Text(text.clone()));
    }

    /// Pushes to every open socket of `account`; how many took it.
    pub fn send(&self, account: u64, push: impl Fn() -> Push) -> usize {
        let subs = lock(&self.subscribers);
        subs.get(&account)
            .map(|list| list.iter().filter(|s| s.tx.send(push()).is_ok()).count())
            .unwrap_or(0)
    }

    /// Sends the last `n` frames of `account` again, in their order.
    pub fn replay(&self, account: u64, n: usize) -> usize {
        let frames: Vec<String> = {
            let history = lock(&self.history);
            let h = history.get(&account).cloned().unwrap_or_default();
            let skip = h.len().saturating_sub(n);
            h.into_iter().skip(skip).collect()
        };
        for f in &frames {
            self.send(account, || Push::Text(f.clone()));
        }
        frames.len()
    }

    pub fn connections(&self) -> BTreeMap<String, usize> {
        lock(&self.subscribers)
            .iter()
            .map(|(a, l)| (a.to_string(), l.len()))
            .collect()
    }

    /// Publishes a new message (5.1) to the creator's sockets, for routes
    /// that post messages outside the event routes.
    pub fn publish_message(&self, creator: u64, m: &Message) {
        let f = service(5, 1, "message", ws_message(m));
        self.publish(creator, f.to_string());
    }

    /// Keeps an upgrade request's headers for `/_sandbox/ws/connections`.
    pub fn record_upgrade(&self, headers: &HeaderMap) {
        let mut upgrades = lock(&self.upgrades);
        if upgrades.len() == UPGRADES {
            upgrades.pop_front();
        }
        upgrades.push_back(
            headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        );
    }

    /// The upgrade requests kept, oldest first.
    pub fn upgrades(&self) -> Vec<BTreeMap<String, String>> {
        lock(&self.upgrades).iter().cloned().collect()
    }

    /// Whether `account`'s keep-alive pings are answered.
    pub fn answers_pings(&self, account: u64) -> bool {
        !lock(&self.silent).contains(&account)
    }

    /// Stops (`false`) or resumes (`true`) answering `account`'s pings.
    pub fn set_pongs(&self, account: u64, answer: bool) {
        let mut silent = lock(&self.silent);
        if answer {
            silent.remove(&account);
        } else {
            silent.insert(account);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
